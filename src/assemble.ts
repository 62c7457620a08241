// The list of platform parts, in start order. Each engineer adds their part's construction here.
import type { Platform, PlatformPart } from './platform.js';

export async function assembleParts(platform: Platform): Promise<PlatformPart[]> {
  const parts: PlatformPart[] = [];
  void platform;
  return parts;
}
