// The async-invoke queue's entry point for callers: the event vocabulary (async-event.ts) and its store
// (async-repo.ts, where the SQL lives).
export * from './async-event.js';
export { AsyncEventStore } from './async-repo.js';
