/*
 * kindling-rapi: the first process of every provided.* sandbox (runtimes/provided/).
 *
 * It speaks the Node runtime's framed channel to the host on fd 3 (runtimes/node/protocol.ts), so the host
 * side (NodeProcess, NodeEnvironment) is reused unchanged, and serves the function's own runtime the Lambda
 * Runtime API over loopback HTTP/1.1. It also runs the platform API relay (TCP on the API's own port to
 * the API's unix socket, as sandbox/relay.ts does) and, at bind, starts /var/task/bootstrap. When the
 * function's layers put executables in /opt/extensions, it starts them first and serves them Lambda's
 * Extensions API on the same address (as runtimes/node/extensions.ts does for Node); a function without
 * them runs none of that code.
 *
 * It runs inside the function's memory cgroup, hence C: one thread, one poll() loop, buffers freed after
 * each invocation. Everything the bootstrap sends is tenant input: lengths are capped, headers parsed
 * strictly, and nothing it sends reaches the channel except a response or error body of bounded size.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <dirent.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Lambda's synchronous response limit, as its error messages state it. */
#define RESPONSE_LIMIT 6291556u
/* A request head (request line and headers) larger than this is refused (431). */
#define HEAD_LIMIT (64u * 1024u)
/* Host frames: the largest is an invocation's payload (6 MB) with its header. */
#define FRAME_LIMIT (16u * 1024u * 1024u)
/* A body past the limit is read and dropped up to here (so the client sees the 413), then the
 * connection is closed. */
#define DISCARD_LIMIT (64u * 1024u * 1024u)
#define MAX_HTTP_CONNS 32
#define MAX_RELAY_PAIRS 256
#define RELAY_BUF (64u * 1024u)
/* Answers queued for a client that is not reading them; past this its requests wait. */
#define OUT_BACKLOG (256u * 1024u)
#define LOG_CHUNK (64u * 1024u)
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

/* ---------- small growable buffer ---------- */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void die(const char *msg) {
  dprintf(2, "kindling-rapi: %s\n", msg);
  _exit(70);
}

static void buf_reserve(buf_t *b, size_t more) {
  if (b->len + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) die("out of memory");
  b->p = p;
  b->cap = cap;
}

static void buf_add(buf_t *b, const void *d, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, d, n);
  b->len += n;
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    buf_add(b, tmp, (size_t)n);
    return;
  }
  buf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Drops the first n bytes. */
static void buf_consume(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
  }
}

/* Returns large buffers to the allocator between invocations: the cgroup counts what we keep. */
static void buf_trim(buf_t *b) {
  if (b->len == 0 && b->cap > 64 * 1024) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
  }
}

static void buf_free(buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* JSON string escaping, for the frame headers we write. */
static void buf_json_str(buf_t *b, const char *s, size_t n) {
  buf_add(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      buf_add(b, e, 2);
    } else if (c < 0x20) {
      buf_fmt(b, "\\u%04x", c);
    } else {
      buf_add(b, &s[i], 1);
    }
  }
  buf_add(b, "\"", 1);
}

/* ---------- a small JSON reader for the host's frame headers (the host is trusted; still checked) ---------- */

typedef struct {
  const char *p, *end;
} js_t;

static void js_ws(js_t *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void utf8_put(buf_t *o, uint32_t cp) {
  char u[4];
  if (cp < 0x80) {
    u[0] = (char)cp;
    buf_add(o, u, 1);
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    buf_add(o, u, 2);
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    buf_add(o, u, 3);
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    buf_add(o, u, 4);
  }
}

static int js_hex4(js_t *j, uint32_t *out) {
  if (j->end - j->p < 4) return -1;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(j->p[i]);
    if (h < 0) return -1;
    v = (v << 4) | (uint32_t)h;
  }
  j->p += 4;
  *out = v;
  return 0;
}

/* Reads a string into a NUL-terminated malloc'd copy (decoded); NULL out means skip. */
static int js_str(js_t *j, char **out) {
  js_ws(j);
  if (j->p >= j->end || *j->p != '"') return -1;
  j->p++;
  buf_t o = {0};
  while (j->p < j->end && *j->p != '"') {
    char c = *j->p++;
    if (c != '\\') {
      buf_add(&o, &c, 1);
      continue;
    }
    if (j->p >= j->end) break;
    char e = *j->p++;
    switch (e) {
      case 'n': buf_add(&o, "\n", 1); break;
      case 't': buf_add(&o, "\t", 1); break;
      case 'r': buf_add(&o, "\r", 1); break;
      case 'b': buf_add(&o, "\b", 1); break;
      case 'f': buf_add(&o, "\f", 1); break;
      case 'u': {
        uint32_t cp;
        if (js_hex4(j, &cp) < 0) goto bad;
        if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
          js_t k = {j->p + 2, j->end};
          uint32_t lo;
          if (js_hex4(&k, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
            j->p = k.p;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
        }
        utf8_put(&o, cp);
        break;
      }
      default: buf_add(&o, &e, 1); break;
    }
  }
  if (j->p >= j->end) goto bad;
  j->p++;
  buf_add(&o, "", 1);
  if (out) *out = o.p;
  else free(o.p);
  return 0;
bad:
  free(o.p);
  return -1;
}

static int js_skip(js_t *j, int depth);

static int js_num(js_t *j, double *out) {
  js_ws(j);
  char tmp[64];
  size_t n = 0;
  while (j->p < j->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", *j->p)) tmp[n++] = *j->p++;
  if (n == 0) return -1;
  tmp[n] = 0;
  char *e;
  *out = strtod(tmp, &e);
  return *e == 0 ? 0 : -1;
}

static int js_skip(js_t *j, int depth) {
  if (depth > 32) return -1;
  js_ws(j);
  if (j->p >= j->end) return -1;
  char c = *j->p;
  if (c == '"') return js_str(j, NULL);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->p++;
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
      j->p++;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        if (js_str(j, NULL) < 0) return -1;
        js_ws(j);
        if (j->p >= j->end || *j->p++ != ':') return -1;
      }
      if (js_skip(j, depth + 1) < 0) return -1;
      js_ws(j);
      if (j->p >= j->end) return -1;
      if (*j->p == ',') {
        j->p++;
        continue;
      }
      if (*j->p == close) {
        j->p++;
        return 0;
      }
      return -1;
    }
  }
  if (c == 't' && j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) return j->p += 4, 0;
  if (c == 'f' && j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) return j->p += 5, 0;
  if (c == 'n' && j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) return j->p += 4, 0;
  double d;
  return js_num(j, &d);
}

/* Iterates an object's members: calls fn(key, j) positioned at each value; fn must consume it. */
typedef int (*js_member_fn)(const char *key, js_t *j, void *ctx);

static int js_object(js_t *j, js_member_fn fn, void *ctx) {
  js_ws(j);
  if (j->p >= j->end || *j->p != '{') return -1;
  j->p++;
  js_ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 0;
  }
  for (;;) {
    char *key;
    if (js_str(j, &key) < 0) return -1;
    js_ws(j);
    if (j->p >= j->end || *j->p++ != ':') {
      free(key);
      return -1;
    }
    int r = fn(key, j, ctx);
    free(key);
    if (r < 0) return -1;
    js_ws(j);
    if (j->p >= j->end) return -1;
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p == '}') {
      j->p++;
      return 0;
    }
    return -1;
  }
}

/* ---------- the channel to the host (fd 3): [u32 hlen][u32 blen][JSON header][body], little-endian ---------- */

static int chan_fd = 3;
static buf_t chan_in;

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, -1);
        continue;
      }
      /* The host is gone: nothing left to serve. */
      _exit(0);
    }
    p += w;
    n -= (size_t)w;
  }
}

static void put_u32(char *p, uint32_t v) {
  p[0] = (char)(v & 0xff);
  p[1] = (char)((v >> 8) & 0xff);
  p[2] = (char)((v >> 16) & 0xff);
  p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get_u32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

/* Writes one frame (blocking: the host always reads its channel). */
static void send_frame(const buf_t *header, const char *body, size_t blen) {
  char pre[8];
  put_u32(pre, (uint32_t)header->len);
  put_u32(pre + 4, (uint32_t)blen);
  if (blen <= 64 * 1024) {
    buf_t one = {0};
    buf_add(&one, pre, 8);
    buf_add(&one, header->p, header->len);
    if (blen) buf_add(&one, body, blen);
    write_all(chan_fd, one.p, one.len);
    buf_free(&one);
  } else {
    write_all(chan_fd, pre, 8);
    write_all(chan_fd, header->p, header->len);
    write_all(chan_fd, body, blen);
  }
}

/* ---------- state ---------- */

enum rt_state { RT_UNBOUND, RT_INIT, RT_IDLE, RT_INVOKING, RT_INIT_FAILED };
static const char *state_names[] = {"Unbound", "Init", "Ready", "Invoke", "InitError"};

static enum rt_state state = RT_UNBOUND;
/* How many extensions run (0 for most functions), and whether one failed: the environment is then retired
 * after its next answer. */
static int n_ext, ext_problem;
/* After an answer, until every extension asked for its next event again: that invocation's deadline. */
static int ext_settling;
static long long ext_settle_by;
static int rapi_port;
static int relay_port;
static const char *api_socket;
static char *invoked_arn;
static pid_t boot_pid = -1;
static int boot_out = -1, boot_err = -1;
static int sig_pipe[2] = {-1, -1};

/* The one invocation the host handed over (queued until a /next takes it, then current). */
static struct {
  int present, taken;
  int held; /* its extensions are not done with the previous invocation yet */
  char *id, *trace, *cc;
  long long deadline;
  long long arrived; /* when the host handed it over (ms) */
  buf_t payload;
} inv;

static void inv_clear(void) {
  if (n_ext && inv.taken) {
    ext_settling = 1;
    ext_settle_by = inv.deadline;
  }
  free(inv.id);
  free(inv.trace);
  free(inv.cc);
  inv.id = inv.trace = inv.cc = NULL;
  inv.present = inv.taken = inv.held = 0;
  inv.payload.len = 0;
  buf_trim(&inv.payload);
}

/* ---------- frames to the host ---------- */

static void send_log(const char *text, size_t n) {
  buf_t h = {0};
  buf_str(&h, "{\"t\":\"log\",\"id\":");
  if (inv.taken && inv.id) buf_json_str(&h, inv.id, strlen(inv.id));
  else buf_str(&h, "null");
  buf_str(&h, "}");
  send_frame(&h, text, n);
  buf_free(&h);
}

static void send_init(int ok, const char *error_type, const char *body, size_t blen) {
  buf_t h = {0};
  if (ok && n_ext) buf_fmt(&h, "{\"t\":\"init\",\"ok\":true,\"ext\":%d}", n_ext);
  else if (ok) buf_str(&h, "{\"t\":\"init\",\"ok\":true}");
  else {
    buf_str(&h, "{\"t\":\"init\",\"ok\":false,\"errorType\":");
    buf_json_str(&h, error_type, strlen(error_type));
    buf_str(&h, "}");
  }
  send_frame(&h, body, blen);
  buf_free(&h);
}

static void send_result(const char *id, int ok, const char *error_type, const char *body, size_t blen) {
  buf_t h = {0};
  buf_str(&h, "{\"t\":\"result\",\"id\":");
  buf_json_str(&h, id, strlen(id));
  if (ext_problem) buf_str(&h, ",\"fatal\":true");
  if (ok) buf_str(&h, ",\"ok\":true}");
  else {
    buf_str(&h, ",\"ok\":false,\"errorType\":");
    buf_json_str(&h, error_type, strlen(error_type));
    buf_str(&h, "}");
  }
  send_frame(&h, body, blen);
  buf_free(&h);
}

/* An init failure in Lambda's shape: {"errorType":…,"errorMessage":…}. */
static void init_failed(const char *error_type, const char *message) {
  buf_t b = {0};
  buf_str(&b, "{\"errorType\":");
  buf_json_str(&b, error_type, strlen(error_type));
  buf_str(&b, ",\"errorMessage\":");
  buf_json_str(&b, message, strlen(message));
  buf_str(&b, "}");
  send_init(0, error_type, b.p, b.len);
  buf_free(&b);
  state = RT_INIT_FAILED;
}

/* ---------- sockets ---------- */

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int listen_tcp(int family, int port, int *bound_port) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int r;
  if (family == AF_INET) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r = bind(fd, (struct sockaddr *)&a, sizeof a);
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_addr = in6addr_loopback;
    r = bind(fd, (struct sockaddr *)&a, sizeof a);
  }
  if (r < 0 || listen(fd, 128) < 0) {
    close(fd);
    return -1;
  }
  if (bound_port) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  return fd;
}

/* ---------- the platform API relay: loopback TCP → the API's unix socket ---------- */

typedef struct {
  int fd[2];          /* [0] client, [1] upstream */
  char *buf[2];       /* buf[i]: read from fd[i], to be written to fd[1-i] */
  size_t len[2], off[2];
  int eof[2];         /* fd[i] said EOF */
  int shut[2];        /* fd[i] was shut down for writing */
  int connecting;
} relay_t;

static relay_t *relays[MAX_RELAY_PAIRS];
static int relay_listen[2] = {-1, -1};

static void relay_close(int i) {
  relay_t *r = relays[i];
  close(r->fd[0]);
  close(r->fd[1]);
  free(r->buf[0]);
  free(r->buf[1]);
  free(r);
  relays[i] = NULL;
}

static void relay_accept(int lfd) {
  int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) return;
  int slot = -1;
  for (int i = 0; i < MAX_RELAY_PAIRS; i++)
    if (!relays[i]) {
      slot = i;
      break;
    }
  int u = slot < 0 ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u < 0) {
    close(c);
    return;
  }
  struct sockaddr_un a = {0};
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, api_socket, sizeof a.sun_path - 1);
  int connecting = 0;
  if (connect(u, (struct sockaddr *)&a, sizeof a) < 0) {
    if (errno == EINPROGRESS || errno == EAGAIN) connecting = 1;
    else {
      close(c);
      close(u);
      return;
    }
  }
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  relay_t *r = calloc(1, sizeof *r);
  if (!r) die("out of memory");
  r->fd[0] = c;
  r->fd[1] = u;
  r->buf[0] = malloc(RELAY_BUF);
  r->buf[1] = malloc(RELAY_BUF);
  if (!r->buf[0] || !r->buf[1]) die("out of memory");
  r->connecting = connecting;
  relays[slot] = r;
}

/* Moves bytes both ways; returns -1 when the pair is done. */
static int relay_pump(relay_t *r, const short *rev) {
  if (r->connecting) {
    if (!(rev[1] & (POLLOUT | POLLERR | POLLHUP))) return 0;
    int err = 0;
    socklen_t sl = sizeof err;
    getsockopt(r->fd[1], SOL_SOCKET, SO_ERROR, &err, &sl);
    if (err) return -1;
    r->connecting = 0;
  }
  for (int i = 0; i < 2; i++) {
    int to = 1 - i;
    if (r->len[i] == 0 && !r->eof[i]) {
      ssize_t n = read(r->fd[i], r->buf[i], RELAY_BUF);
      if (n > 0) {
        r->len[i] = (size_t)n;
        r->off[i] = 0;
      } else if (n == 0) {
        r->eof[i] = 1;
      } else if (errno != EAGAIN && errno != EINTR) {
        return -1;
      }
    }
    while (r->len[i] > 0) {
      ssize_t w = write(r->fd[to], r->buf[i] + r->off[i], r->len[i]);
      if (w > 0) {
        r->off[i] += (size_t)w;
        r->len[i] -= (size_t)w;
      } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
        break;
      } else {
        /* Destroy rather than end: the peer may never read again. */
        return -1;
      }
    }
    if (r->eof[i] && r->len[i] == 0 && !r->shut[to]) {
      shutdown(r->fd[to], SHUT_WR);
      r->shut[to] = 1;
    }
  }
  if (r->eof[0] && r->eof[1] && r->len[0] == 0 && r->len[1] == 0) return -1;
  for (int i = 0; i < 2; i++)
    if ((rev[i] & (POLLERR | POLLNVAL)) || ((rev[i] & POLLHUP) && !(rev[i] & POLLIN) && r->len[1 - i] > 0))
      return -1;
  return 0;
}

static short relay_events(relay_t *r, int i) {
  if (r->connecting) return i == 1 ? POLLOUT : 0;
  short ev = 0;
  if (r->len[i] == 0 && !r->eof[i]) ev |= POLLIN;
  if (r->len[1 - i] > 0) ev |= POLLOUT;
  return ev;
}

/* ---------- the Runtime API: HTTP/1.1 on loopback ---------- */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

typedef struct {
  int fd;
  buf_t in, out, body;
  int have_head;
  /* The parsed request. */
  char method[8];
  char path[512];
  char error_type[160];
  int error_type_set;
  char response_mode[64];
  int response_mode_set;
  int close_after;
  enum body_mode mode;
  size_t remaining;   /* BODY_LENGTH: bytes still to come; chunked: bytes left in the chunk */
  enum chunk_state ch;
  size_t body_seen;   /* bytes of body received, kept or not */
  size_t limit;
  int discarding;     /* over the limit: answered 413, dropping the rest */
  int parked;         /* a /next (or an extension's /event/next) waiting for an event */
  int closing;        /* close once out is written */
  /* Extensions API headers (read only when extensions run). */
  char ext_name[128];
  char ext_id[40];
  char ext_error_type[128];
} conn_t;

static conn_t *conns[MAX_HTTP_CONNS];
static int rapi_listen = -1;
static int parked_next = -1; /* index in conns of the parked /next */
static void ext_conn_closed(int i);

static void conn_close(int i) {
  conn_t *c = conns[i];
  if (parked_next == i) parked_next = -1;
  if (n_ext) ext_conn_closed(i);
  close(c->fd);
  buf_free(&c->in);
  buf_free(&c->out);
  buf_free(&c->body);
  free(c);
  conns[i] = NULL;
}

static void conn_flush(conn_t *c) {
  while (c->out.len > 0) {
    ssize_t w = write(c->fd, c->out.p, c->out.len);
    if (w > 0) buf_consume(&c->out, (size_t)w);
    else if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
    else {
      c->out.len = 0;
      c->closing = 1;
      return;
    }
  }
  buf_trim(&c->out);
}

static void respond(conn_t *c, int status, const char *reason, const char *body) {
  buf_fmt(&c->out,
          "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", status,
          reason, strlen(body), c->close_after ? "Connection: close\r\n" : "");
  buf_str(&c->out, body);
  if (c->close_after) c->closing = 1;
  conn_flush(c);
}

static void respond_error(conn_t *c, int status, const char *reason, const char *type, const char *msg) {
  buf_t b = {0};
  buf_str(&b, "{\"errorMessage\":");
  buf_json_str(&b, msg, strlen(msg));
  buf_str(&b, ",\"errorType\":");
  buf_json_str(&b, type, strlen(type));
  buf_str(&b, "}");
  buf_add(&b, "", 1);
  respond(c, status, reason, b.p);
  buf_free(&b);
}

static void respond_accepted(conn_t *c) { respond(c, 202, "Accepted", "{\"status\":\"OK\"}"); }

static void respond_state(conn_t *c, const char *to) {
  char msg[256];
  snprintf(msg, sizeof msg, "State transition from %s to %s failed for runtime. Error: State transition is not allowed",
           state_names[state], to);
  respond_error(c, 403, "Forbidden", "InvalidStateTransition", msg);
}

/* Header values that reach the host or another header: printable ASCII only, control bytes as spaces. */
static void clean_header_value(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) *s = ' ';
}

static int is_token(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._:-/", c)))
      return 0;
  }
  return 1;
}

static size_t b64_decode(const char *in, unsigned char *out) {
  static const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (; *in && *in != '='; in++) {
    const char *p = strchr(alpha, *in);
    if (!p || !*in) continue;
    acc = (acc << 6) | (uint32_t)(p - alpha);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (unsigned char)((acc >> bits) & 0xff);
    }
  }
  return n;
}

/* ---------- the Extensions API (only when /opt/extensions held files at bind) ---------- */

#define MAX_EXTS 16
#define EXT_QUEUE 4
/* How long init waits for every extension to register and ask for its first event (Kindling's bound). */
#define REGISTER_BOUND_MS 2000
/* Lambda's grace for extensions after SHUTDOWN. */
#define SHUTDOWN_GRACE_MS 2000
#define EXT_API "/2020-01-01/extension/"

typedef struct {
  char file[128];   /* its file name: what it registers as */
  pid_t pid;
  int out;          /* its stdout and stderr, to the log */
  int exited, registered, idle;
  int want_invoke, want_shutdown;
  char id[40];
  int waiting;      /* index in conns of its parked /event/next, or -1 */
  char *queued[EXT_QUEUE];
  int nqueued;
} ext_t;

/* Allocated at bind when there are extensions: a function without them carries none of this. */
static ext_t *exts;
enum ext_phase { EXT_RUNNING, EXT_INIT, EXT_SHUTDOWN };
static enum ext_phase ext_phase;
static long long ext_phase_until; /* EXT_INIT: the register bound; EXT_SHUTDOWN: the grace */
static char *fn_name, *fn_version, *fn_handler;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ext_fail(ext_t *e, const char *why) {
  char line[400];
  int n = snprintf(line, sizeof line, "EXTENSION\tName: %s\tState: Failed\tReason: %s\n", e->file, why);
  if (n > 0) send_log(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  ext_problem = 1;
}

static void uuid4(char out[37]) {
  unsigned char r[16];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
    long long t = now_ms() ^ ((long long)getpid() << 20);
    for (int i = 0; i < 16; i++) r[i] = (unsigned char)((t >> (i % 8 * 8)) ^ (i * 37));
  }
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
           r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* Answers a parked /event/next with an event; the connection goes on serving. */
static void ext_answer_event(conn_t *c, const char *ev) {
  char eid[37];
  uuid4(eid);
  c->parked = 0;
  buf_fmt(&c->out,
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Extension-Event-Identifier: %s\r\n"
          "Content-Length: %zu\r\n%s\r\n",
          eid, strlen(ev), c->close_after ? "Connection: close\r\n" : "");
  buf_str(&c->out, ev);
  if (c->close_after) c->closing = 1;
  conn_flush(c);
}

/* Hands an event to an extension: at once when it waits, else queued for its next /event/next. */
static void ext_deliver(ext_t *e, const char *ev) {
  e->idle = 0;
  if (e->waiting >= 0 && conns[e->waiting]) {
    conn_t *c = conns[e->waiting];
    e->waiting = -1;
    ext_answer_event(c, ev);
    return;
  }
  /* At most one INVOKE and the SHUTDOWN wait at once; an extension past that has failed anyway. */
  if (e->nqueued == EXT_QUEUE) {
    free(e->queued[0]);
    memmove(e->queued, e->queued + 1, (EXT_QUEUE - 1) * sizeof *e->queued);
    e->nqueued--;
  }
  e->queued[e->nqueued] = strdup(ev);
  if (!e->queued[e->nqueued]) die("out of memory");
  e->nqueued++;
}

static void ext_conn_closed(int i) {
  for (int k = 0; k < n_ext; k++)
    if (exts[k].waiting == i) exts[k].waiting = -1;
}

struct events_ctx {
  int invoke, shutdown, bad;
};
static int register_member(const char *key, js_t *j, void *ctx) {
  struct events_ctx *v = ctx;
  if (strcmp(key, "events") != 0) return js_skip(j, 0);
  js_ws(j);
  if (j->p >= j->end || *j->p != '[') {
    v->bad = 1;
    return js_skip(j, 0);
  }
  j->p++;
  js_ws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return 0;
  }
  for (;;) {
    char *s = NULL;
    js_ws(j);
    if (j->p < j->end && *j->p == '"') {
      if (js_str(j, &s) < 0) return -1;
      if (!strcmp(s, "INVOKE")) v->invoke = 1;
      else if (!strcmp(s, "SHUTDOWN")) v->shutdown = 1;
      else v->bad = 1;
      free(s);
    } else {
      v->bad = 1;
      if (js_skip(j, 1) < 0) return -1;
    }
    js_ws(j);
    if (j->p >= j->end) return -1;
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p == ']') {
      j->p++;
      return 0;
    }
    return -1;
  }
}

static void ext_register(conn_t *c) {
  if (!c->ext_name[0]) {
    respond_error(c, 400, "Bad Request", "InvalidRequest", "Lambda-Extension-Name header is required.");
    return;
  }
  struct events_ctx ev = {0, 0, 0};
  if (c->body.len > 0) {
    js_t j = {c->body.p, c->body.p + c->body.len};
    if (js_object(&j, register_member, &ev) < 0) {
      respond_error(c, 400, "Bad Request", "InvalidRequest", "The body is not a JSON object.");
      return;
    }
  }
  if (ev.bad) {
    respond_error(c, 400, "Bad Request", "InvalidRequest", "events may hold INVOKE and SHUTDOWN only.");
    return;
  }
  /* Lambda matches an external extension by its file name. */
  ext_t *e = NULL;
  for (int k = 0; k < n_ext && !e; k++)
    if (!exts[k].registered && !strcmp(exts[k].file, c->ext_name)) e = &exts[k];
  if (!e) {
    respond_error(c, 403, "Forbidden", "Extension.Unknown", "No unregistered extension of that name.");
    return;
  }
  e->registered = 1;
  e->want_invoke = ev.invoke;
  e->want_shutdown = ev.shutdown;
  uuid4(e->id);
  buf_t b = {0};
  buf_str(&b, "{\"functionName\":");
  buf_json_str(&b, fn_name ? fn_name : "", fn_name ? strlen(fn_name) : 0);
  buf_str(&b, ",\"functionVersion\":");
  buf_json_str(&b, fn_version ? fn_version : "", fn_version ? strlen(fn_version) : 0);
  buf_str(&b, ",\"handler\":");
  buf_json_str(&b, fn_handler ? fn_handler : "", fn_handler ? strlen(fn_handler) : 0);
  buf_str(&b, "}");
  buf_fmt(&c->out,
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Extension-Identifier: %s\r\n"
          "Content-Length: %zu\r\n%s\r\n",
          e->id, b.len, c->close_after ? "Connection: close\r\n" : "");
  buf_add(&c->out, b.p, b.len);
  buf_free(&b);
  if (c->close_after) c->closing = 1;
  conn_flush(c);
}

/* A request under /2020-01-01/extension/ (routed here only when extensions run). */
static void ext_dispatch(conn_t *c, int idx) {
  const char *op = c->path + strlen(EXT_API);
  int is_get = !strcmp(c->method, "GET"), is_post = !strcmp(c->method, "POST");
  if (is_post && !strcmp(op, "register")) {
    ext_register(c);
    return;
  }
  ext_t *e = NULL;
  for (int k = 0; k < n_ext && !e; k++)
    if (exts[k].registered && c->ext_id[0] && !strcmp(exts[k].id, c->ext_id)) e = &exts[k];
  if (!e) {
    respond_error(c, 403, "Forbidden", "Extension.Unknown", "Unknown Lambda-Extension-Identifier.");
    return;
  }
  if (is_get && !strcmp(op, "event/next")) {
    e->idle = 1;
    if (e->waiting >= 0 && e->waiting != idx && conns[e->waiting]) {
      conn_t *old = conns[e->waiting];
      old->parked = 0;
      respond_error(old, 409, "Conflict", "InvalidRequest",
                    "A newer /event/next of this extension replaced this one.");
    }
    e->waiting = -1;
    if (e->nqueued > 0) {
      char *ev = e->queued[0];
      memmove(e->queued, e->queued + 1, (size_t)(EXT_QUEUE - 1) * sizeof *e->queued);
      e->nqueued--;
      e->idle = 0;
      ext_answer_event(c, ev);
      free(ev);
      return;
    }
    c->parked = 1;
    e->waiting = idx;
    return;
  }
  if (is_post && (!strcmp(op, "init/error") || !strcmp(op, "exit/error"))) {
    char why[200];
    clean_header_value(c->ext_error_type);
    snprintf(why, sizeof why, "reported %s error %s", op[0] == 'i' ? "an init" : "an exit", c->ext_error_type);
    ext_fail(e, why);
    respond(c, 202, "Accepted", "{\"status\":\"OK\"}");
    return;
  }
  respond_error(c, 404, "Not Found", "InvalidRequest", "No such operation of the Extensions API.");
}

/* Hands the queued invocation to the parked /next: Lambda's headers and the raw payload. */
static void deliver_next(void) {
  if (parked_next < 0 || !inv.present || inv.taken || inv.held) return;
  conn_t *c = conns[parked_next];
  parked_next = -1;
  c->parked = 0;
  inv.taken = 1;
  state = RT_INVOKING;
  buf_fmt(&c->out,
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: %s\r\n"
          "Lambda-Runtime-Deadline-Ms: %lld\r\nLambda-Runtime-Invoked-Function-Arn: %s\r\n"
          "Lambda-Runtime-Trace-Id: %s\r\n",
          inv.id, inv.deadline, invoked_arn ? invoked_arn : "", inv.trace ? inv.trace : "");
  if (inv.cc && *inv.cc) {
    /* Lambda hands the client context over as its JSON text, not base64. */
    unsigned char *dec = malloc(strlen(inv.cc) + 1);
    if (!dec) die("out of memory");
    size_t n = b64_decode(inv.cc, dec);
    dec[n] = 0;
    clean_header_value((char *)dec);
    buf_fmt(&c->out, "Lambda-Runtime-Client-Context: %s\r\n", (char *)dec);
    free(dec);
  }
  buf_fmt(&c->out, "Content-Length: %zu\r\n%s\r\n", inv.payload.len, c->close_after ? "Connection: close\r\n" : "");
  if (c->close_after) c->closing = 1;
  buf_add(&c->out, inv.payload.p, inv.payload.len);
  inv.payload.len = 0;
  buf_trim(&inv.payload);
  conn_flush(c);
}

/* Finds errorType in a JSON error body (used when the header does not name one). */
struct find_ctx {
  char *found;
};
static int find_error_type(const char *key, js_t *j, void *ctx) {
  struct find_ctx *f = ctx;
  js_ws(j);
  if (!f->found && !strcmp(key, "errorType") && j->p < j->end && *j->p == '"') return js_str(j, &f->found);
  return js_skip(j, 0);
}

static void error_type_of(conn_t *c, char *out, size_t n) {
  if (c->error_type_set && is_token(c->error_type)) {
    snprintf(out, n, "%s", c->error_type);
    return;
  }
  struct find_ctx f = {NULL};
  js_t j = {c->body.p, c->body.p + c->body.len};
  if (c->body.len > 0 && js_object(&j, find_error_type, &f) == 0 && f.found && strlen(f.found) < n &&
      is_token(f.found))
    snprintf(out, n, "%s", f.found);
  else
    snprintf(out, n, "Runtime.Unknown");
  free(f.found);
}

/* The body of a /response went past Lambda's limit: 413 to the runtime, and the invoke fails. */
static int route(const char *path, char *id, size_t idn);

static void response_too_large(conn_t *c) {
  char msg[128], id[160];
  snprintf(msg, sizeof msg, "Exceeded maximum allowed payload size (%u bytes).", RESPONSE_LIMIT);
  respond_error(c, 413, "Request Entity Too Large", "RequestEntityTooLarge", msg);
  int r = route(c->path, id, sizeof id);
  if ((r == 2 || r == 3) && state == RT_INVOKING && inv.id && !strcmp(id, inv.id)) {
    char body[256];
    snprintf(body, sizeof body,
             "{\"errorMessage\":\"Response payload size exceeded maximum allowed payload size (%u bytes).\","
             "\"errorType\":\"Function.ResponseSizeTooLarge\"}",
             RESPONSE_LIMIT);
    send_result(inv.id, 0, "Function.ResponseSizeTooLarge", body, strlen(body));
    inv_clear();
    state = RT_IDLE;
  }
}

#define API "/2018-06-01/runtime/"

/* What a request is, from its path: 1 next, 2 response, 3 error, 4 init error; 0 unknown. */
static int route(const char *path, char *id, size_t idn) {
  if (strncmp(path, API, strlen(API)) != 0) return 0;
  const char *p = path + strlen(API);
  if (!strcmp(p, "invocation/next")) return 1;
  if (!strcmp(p, "init/error")) return 4;
  if (strncmp(p, "invocation/", 11) != 0) return 0;
  p += 11;
  const char *slash = strchr(p, '/');
  if (!slash || slash == p || (size_t)(slash - p) >= idn) return 0;
  memcpy(id, p, (size_t)(slash - p));
  id[slash - p] = 0;
  if (!strcmp(slash, "/response")) return 2;
  if (!strcmp(slash, "/error")) return 3;
  return 0;
}

/* The head is parsed: check the route and state before any body arrives, so a 7 MB body is refused early. */
static size_t body_limit_for(conn_t *c) {
  char id[160];
  int r = route(c->path, id, sizeof id);
  return (r == 2 || r == 3 || r == 4) ? RESPONSE_LIMIT : 64 * 1024;
}

static void dispatch(conn_t *c, int idx) {
  char id[160];
  if (n_ext && !strncmp(c->path, EXT_API, strlen(EXT_API))) {
    ext_dispatch(c, idx);
    return;
  }
  int r = route(c->path, id, sizeof id);
  int is_get = !strcmp(c->method, "GET"), is_post = !strcmp(c->method, "POST");
  if (r == 0) {
    respond_error(c, 404, "Not Found", "NotFound", "Unknown path: the Runtime API serves /2018-06-01/runtime/…");
    return;
  }
  if ((r == 1 && !is_get) || (r != 1 && !is_post)) {
    respond_error(c, 405, "Method Not Allowed", "MethodNotAllowed", "Method not allowed for this path");
    return;
  }
  if (r == 1) {
    if (state == RT_INIT) {
      /* The first /next is Lambda's end of init. */
      send_init(1, NULL, NULL, 0);
      state = RT_IDLE;
    }
    if (state != RT_IDLE || parked_next >= 0) {
      respond_state(c, "InvocationNext");
      return;
    }
    c->parked = 1;
    parked_next = idx;
    deliver_next();
    return;
  }
  if (r == 4) {
    if (state != RT_INIT) {
      respond_state(c, "InitError");
      return;
    }
    char et[160];
    error_type_of(c, et, sizeof et);
    send_init(0, et, c->body.p, c->body.len);
    state = RT_INIT_FAILED;
    respond_accepted(c);
    return;
  }
  /* /response or /error */
  const char *to = r == 2 ? "InvocationResponse" : "InvocationErrorResponse";
  if (state != RT_INVOKING) {
    respond_state(c, to);
    return;
  }
  if (!inv.id || strcmp(id, inv.id) != 0) {
    respond_error(c, 400, "Bad Request", "InvalidRequestID", "Invalid request ID");
    return;
  }
  if (r == 2 && c->response_mode_set) {
    /* Response streaming is not served yet: refused, never answered as buffered. */
    int streaming = !strcasecmp(c->response_mode, "streaming");
    const char *msg = streaming
                          ? "{\"errorType\":\"Runtime.InvalidResponseModeHeader\",\"errorMessage\":"
                            "\"Response streaming (Lambda-Runtime-Function-Response-Mode: streaming) is not "
                            "supported by Kindling yet; answer with a buffered response.\"}"
                          : "{\"errorType\":\"Runtime.InvalidResponseModeHeader\",\"errorMessage\":"
                            "\"Invalid Lambda-Runtime-Function-Response-Mode.\"}";
    send_result(inv.id, 0, "Runtime.InvalidResponseModeHeader", msg, strlen(msg));
    inv_clear();
    state = RT_IDLE;
    respond_error(c, 400, "Bad Request", "InvalidFunctionResponseMode",
                  streaming ? "Response streaming is not supported by Kindling yet"
                            : "Invalid function response mode");
    return;
  }
  if (r == 2) {
    send_result(inv.id, 1, NULL, c->body.p, c->body.len);
  } else {
    /* Lambda passes the error body through as posted (JSON or not); its type names the error. */
    char et[160];
    error_type_of(c, et, sizeof et);
    send_result(inv.id, 0, et, c->body.p, c->body.len);
  }
  inv_clear();
  state = RT_IDLE;
  respond_accepted(c);
}

static int header_is(const char *line, size_t n, const char *name, const char **value) {
  size_t k = strlen(name);
  if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0) return 0;
  const char *v = line + k + 1;
  while (v < line + n && (*v == ' ' || *v == '\t')) v++;
  *value = v;
  return 1;
}

static void copy_value(char *dst, size_t dn, const char *v, const char *end) {
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t n = (size_t)(end - v);
  if (n >= dn) n = dn - 1;
  memcpy(dst, v, n);
  dst[n] = 0;
}

/* Parses the request head ending at `end` (exclusive of the blank line). -1: answered with an error. */
static int parse_head(conn_t *c, const char *p, const char *end) {
  const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
  if (!eol) eol = end;
  /* METHOD SP target SP HTTP/1.x */
  const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (!sp1 || !sp2 || (size_t)(sp1 - p) >= sizeof c->method || (size_t)(sp2 - sp1 - 1) >= sizeof c->path ||
      (size_t)(eol - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
    c->close_after = 1;
    respond_error(c, 400, "Bad Request", "InvalidRequest", "Malformed request line");
    return -1;
  }
  memcpy(c->method, p, (size_t)(sp1 - p));
  c->method[sp1 - p] = 0;
  memcpy(c->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
  c->path[sp2 - sp1 - 1] = 0;
  char *q = strchr(c->path, '?');
  if (q) *q = 0;
  c->close_after = sp2[8] == '0';
  c->mode = BODY_NONE;
  c->remaining = 0;
  c->error_type_set = c->response_mode_set = 0;
  if (n_ext) c->ext_name[0] = c->ext_id[0] = c->ext_error_type[0] = 0;
  int have_len = 0, chunked = 0, expect = 0;
  unsigned long long len = 0;
  for (const char *line = eol + 2; line < end;) {
    const char *le = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (!le) le = end;
    size_t n = (size_t)(le - line);
    const char *v;
    if (header_is(line, n, "Content-Length", &v)) {
      unsigned long long x = 0;
      const char *d = v;
      while (d < le && *d >= '0' && *d <= '9' && x < (1ull << 40)) x = x * 10 + (unsigned)(*d++ - '0');
      while (d < le && (*d == ' ' || *d == '\t')) d++;
      if (d == v || d != le || (have_len && x != len)) {
        c->close_after = 1;
        respond_error(c, 400, "Bad Request", "InvalidRequest", "Invalid Content-Length");
        return -1;
      }
      have_len = 1;
      len = x;
    } else if (header_is(line, n, "Transfer-Encoding", &v)) {
      char te[64];
      copy_value(te, sizeof te, v, le);
      if (strcasecmp(te, "chunked") != 0) {
        c->close_after = 1;
        respond_error(c, 501, "Not Implemented", "InvalidRequest", "Only chunked transfer encoding is served");
        return -1;
      }
      chunked = 1;
    } else if (header_is(line, n, "Connection", &v)) {
      char cv[32];
      copy_value(cv, sizeof cv, v, le);
      if (!strcasecmp(cv, "close")) c->close_after = 1;
      else if (!strcasecmp(cv, "keep-alive")) c->close_after = 0;
    } else if (header_is(line, n, "Expect", &v)) {
      expect = 1;
    } else if (header_is(line, n, "Lambda-Runtime-Function-Error-Type", &v)) {
      copy_value(c->error_type, sizeof c->error_type, v, le);
      c->error_type_set = 1;
    } else if (header_is(line, n, "Lambda-Runtime-Function-Response-Mode", &v)) {
      copy_value(c->response_mode, sizeof c->response_mode, v, le);
      c->response_mode_set = 1;
    } else if (n_ext) {
      /* The Extensions API's headers, looked for only when extensions run. */
      if (header_is(line, n, "Lambda-Extension-Name", &v)) copy_value(c->ext_name, sizeof c->ext_name, v, le);
      else if (header_is(line, n, "Lambda-Extension-Identifier", &v))
        copy_value(c->ext_id, sizeof c->ext_id, v, le);
      else if (header_is(line, n, "Lambda-Extension-Function-Error-Type", &v))
        copy_value(c->ext_error_type, sizeof c->ext_error_type, v, le);
    }
    line = le + 2;
  }
  if (chunked && have_len) {
    /* Both framings: a smuggling attempt or a broken client. */
    c->close_after = 1;
    respond_error(c, 400, "Bad Request", "InvalidRequest", "Both Content-Length and Transfer-Encoding");
    return -1;
  }
  c->limit = body_limit_for(c);
  c->body.len = 0;
  c->body_seen = 0;
  c->discarding = 0;
  if (chunked) {
    c->mode = BODY_CHUNKED;
    c->ch = CH_SIZE;
  } else if (have_len && len > 0) {
    c->mode = BODY_LENGTH;
    c->remaining = (size_t)len;
    if (len > c->limit) {
      if (expect || len > DISCARD_LIMIT) {
        /* The body has not been sent (or is too large to drop): refuse it and close. */
        c->close_after = 1;
        if (c->limit == RESPONSE_LIMIT) response_too_large(c);
        else respond_error(c, 413, "Request Entity Too Large", "RequestEntityTooLarge", "Request body too large");
        return -1;
      }
      c->discarding = 1;
      if (c->limit == RESPONSE_LIMIT) response_too_large(c);
      else respond_error(c, 413, "Request Entity Too Large", "RequestEntityTooLarge", "Request body too large");
    }
  }
  if (expect && c->mode != BODY_NONE && !c->discarding) buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
  return 0;
}

/* Takes body bytes (already de-chunked) from a request. */
static void body_bytes(conn_t *c, const char *p, size_t n) {
  c->body_seen += n;
  if (c->discarding) return;
  if (c->body.len + n > c->limit) {
    c->discarding = 1;
    buf_free(&c->body);
    if (c->limit == RESPONSE_LIMIT) response_too_large(c);
    else respond_error(c, 413, "Request Entity Too Large", "RequestEntityTooLarge", "Request body too large");
    return;
  }
  buf_add(&c->body, p, n);
}

/* Consumes body bytes from c->in; returns 1 when the body is complete, 0 for more, -1 on a framing error. */
static int read_body(conn_t *c) {
  size_t pos = 0;
  int done = 0;
  if (c->mode == BODY_NONE) return 1;
  if (c->mode == BODY_LENGTH) {
    size_t n = c->in.len < c->remaining ? c->in.len : c->remaining;
    body_bytes(c, c->in.p, n);
    c->remaining -= n;
    pos = n;
    done = c->remaining == 0;
  } else {
    while (!done && pos < c->in.len) {
      if (c->ch == CH_SIZE || c->ch == CH_TRAILER || c->ch == CH_DATA_END) {
        char *le = memmem(c->in.p + pos, c->in.len - pos, "\r\n", 2);
        if (!le) {
          if (c->in.len - pos > 4096) return -1;
          break;
        }
        size_t ln = (size_t)(le - (c->in.p + pos));
        const char *line = c->in.p + pos;
        pos += ln + 2;
        if (c->ch == CH_DATA_END) {
          if (ln != 0) return -1;
          c->ch = CH_SIZE;
        } else if (c->ch == CH_TRAILER) {
          if (ln == 0) done = 1;
        } else {
          size_t sz = 0, k = 0;
          int h;
          while (k < ln && (h = hexval(line[k])) >= 0) {
            if (sz > (SIZE_MAX >> 8)) return -1;
            sz = sz * 16 + (size_t)h;
            k++;
          }
          if (k == 0 || (k < ln && line[k] != ';' && line[k] != ' ')) return -1;
          if (sz == 0) c->ch = CH_TRAILER;
          else {
            c->remaining = sz;
            c->ch = CH_DATA;
          }
        }
      } else {
        size_t avail = c->in.len - pos;
        size_t n = avail < c->remaining ? avail : c->remaining;
        body_bytes(c, c->in.p + pos, n);
        c->remaining -= n;
        pos += n;
        if (c->remaining == 0) c->ch = CH_DATA_END;
      }
      if (c->body_seen > DISCARD_LIMIT) return -1;
    }
  }
  buf_consume(&c->in, pos);
  return done;
}

/* Works through whatever c->in holds: heads, bodies, and the requests they make. */
static void conn_process(int idx) {
  conn_t *c = conns[idx];
  while (!c->closing && !c->parked && c->out.len < OUT_BACKLOG) {
    if (!c->have_head) {
      char *e = memmem(c->in.p ? c->in.p : "", c->in.len, "\r\n\r\n", 4);
      if (!e) {
        if (c->in.len > HEAD_LIMIT) {
          c->close_after = 1;
          respond_error(c, 431, "Request Header Fields Too Large", "InvalidRequest", "Request head too large");
        }
        return;
      }
      size_t head_len = (size_t)(e - c->in.p);
      if (head_len > HEAD_LIMIT) {
        c->close_after = 1;
        respond_error(c, 431, "Request Header Fields Too Large", "InvalidRequest", "Request head too large");
        return;
      }
      int r = parse_head(c, c->in.p, e);
      buf_consume(&c->in, head_len + 4);
      if (r < 0) {
        c->closing = 1;
        conn_flush(c);
        return;
      }
      c->have_head = 1;
    }
    int b = read_body(c);
    if (b < 0) {
      c->close_after = 1;
      respond_error(c, 400, "Bad Request", "InvalidRequest", "Malformed chunked body");
      return;
    }
    if (b == 0) return;
    c->have_head = 0;
    if (c->discarding) {
      /* Already answered 413 when the body went past the limit. */
      c->discarding = 0;
      if (c->close_after) c->closing = 1;
      buf_free(&c->body);
      continue;
    }
    dispatch(c, idx);
    c->body.len = 0;
    buf_trim(&c->body);
    buf_trim(&c->in);
  }
}

static void rapi_accept(void) {
  int fd = accept4(rapi_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < MAX_HTTP_CONNS; i++)
    if (!conns[i]) {
      conn_t *c = calloc(1, sizeof *c);
      if (!c) die("out of memory");
      c->fd = fd;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conns[i] = c;
      return;
    }
  close(fd);
}

/* ---------- the bootstrap ---------- */

static void on_sigchld(int sig) {
  (void)sig;
  int e = errno;
  ssize_t w = write(sig_pipe[1], "c", 1);
  (void)w;
  errno = e;
}

struct bind_ctx {
  char *task_root;
  char **env;
  size_t nenv;
  int bad;
};

static int bind_env_member(const char *key, js_t *j, void *ctx) {
  struct bind_ctx *b = ctx;
  char *v;
  if (js_str(j, &v) < 0) return js_skip(j, 0);
  /* The Runtime API's address is ours to set; an '=' in a name would forge another variable. */
  if (!*key || strchr(key, '=') || !strcmp(key, "AWS_LAMBDA_RUNTIME_API")) {
    free(v);
    return 0;
  }
  size_t n = strlen(key) + strlen(v) + 2;
  char *kv = malloc(n);
  if (!kv) die("out of memory");
  snprintf(kv, n, "%s=%s", key, v);
  free(v);
  char **env = realloc(b->env, (b->nenv + 2) * sizeof *env);
  if (!env) die("out of memory");
  b->env = env;
  b->env[b->nenv++] = kv;
  b->env[b->nenv] = NULL;
  return 0;
}

static int bind_member(const char *key, js_t *j, void *ctx) {
  struct bind_ctx *b = ctx;
  if (!strcmp(key, "env")) return js_object(j, bind_env_member, ctx);
  if (!strcmp(key, "taskRoot")) return js_str(j, &b->task_root);
  /* What an extension's register is answered (free'd first: a duplicate key must not leak). */
  if (!strcmp(key, "functionName")) return free(fn_name), fn_name = NULL, js_str(j, &fn_name);
  if (!strcmp(key, "functionVersion")) return free(fn_version), fn_version = NULL, js_str(j, &fn_version);
  if (!strcmp(key, "handler")) return free(fn_handler), fn_handler = NULL, js_str(j, &fn_handler);
  if (!strcmp(key, "invokedFunctionArn")) {
    free(invoked_arn);
    invoked_arn = NULL;
    int r = js_str(j, &invoked_arn);
    if (r == 0) clean_header_value(invoked_arn);
    return r;
  }
  return js_skip(j, 0);
}

static void add_env(struct bind_ctx *b, const char *kv) {
  char **env = realloc(b->env, (b->nenv + 2) * sizeof *env);
  if (!env) die("out of memory");
  b->env = env;
  b->env[b->nenv++] = strdup(kv);
  b->env[b->nenv] = NULL;
}

static struct bind_ctx pending_bind; /* held while extensions register */
static int ext_start(char **env);
static void launch_bootstrap(struct bind_ctx *b);

/* Parses the bind frame; the bootstrap starts now, or once the function's extensions registered. */
static void do_bind(const char *h, size_t hlen) {
  if (state != RT_UNBOUND) return;
  state = RT_INIT;
  struct bind_ctx b = {0};
  js_t j = {h, h + hlen};
  if (js_object(&j, bind_member, &b) < 0 || !b.task_root) {
    init_failed("Runtime.Unknown", "malformed bind frame");
    return;
  }
  char api[64];
  snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", rapi_port);
  add_env(&b, api);
  /* Extensions start first and register before the bootstrap starts, as on Lambda. */
  if (ext_start(b.env)) {
    pending_bind = b;
    return;
  }
  launch_bootstrap(&b);
}

/* Starts the function's bootstrap with Lambda's variables; failures are init errors as Lambda names them. */
static void launch_bootstrap(struct bind_ctx *bp) {
  struct bind_ctx b = *bp;
  char path[1024], opt_path[] = "/opt/bootstrap";
  snprintf(path, sizeof path, "%s/bootstrap", b.task_root);
  const char *boot = path;
  struct stat st;
  if (stat(path, &st) != 0 && stat(opt_path, &st) == 0) boot = opt_path;
  char msg[1200];
  if (stat(boot, &st) != 0) {
    snprintf(msg, sizeof msg, "Couldn't find valid bootstrap(s): [%s %s]", path, opt_path);
    init_failed("Runtime.InvalidEntrypoint", msg);
    goto out;
  }
  if (!S_ISREG(st.st_mode) || access(boot, X_OK) != 0) {
    snprintf(msg, sizeof msg, "fork/exec %s: permission denied", boot);
    init_failed("Runtime.InvalidEntrypoint", msg);
    goto out;
  }
  int outp[2], errp[2], execp[2];
  if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) || pipe2(execp, O_CLOEXEC)) {
    init_failed("Runtime.Unknown", "could not create pipes");
    goto out;
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* The channel and our sockets are close-on-exec: the function cannot forge frames. */
    dup2(outp[1], 1);
    dup2(errp[1], 2);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    /* Nothing past stdio reaches the function, whoever opened it (bwrap hands us descriptors too). */
    if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < 4096; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (chdir(b.task_root) != 0) _exit(126);
    char *argv[] = {(char *)boot, NULL};
    execve(boot, argv, b.env);
    int e = errno;
    ssize_t w = write(execp[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(outp[1]);
  close(errp[1]);
  close(execp[1]);
  if (pid < 0) {
    close(outp[0]);
    close(errp[0]);
    close(execp[0]);
    init_failed("Runtime.Unknown", "could not start the bootstrap");
    goto out;
  }
  int e = 0;
  ssize_t got;
  do got = read(execp[0], &e, sizeof e);
  while (got < 0 && errno == EINTR);
  close(execp[0]);
  if (got == (ssize_t)sizeof e) {
    waitpid(pid, NULL, 0);
    close(outp[0]);
    close(errp[0]);
    snprintf(msg, sizeof msg, "fork/exec %s: %s", boot, strerror(e));
    init_failed("Runtime.InvalidEntrypoint", msg);
    goto out;
  }
  boot_pid = pid;
  boot_out = outp[0];
  boot_err = errp[0];
  set_nonblock(boot_out);
  set_nonblock(boot_err);
out:
  for (size_t i = 0; i < b.nenv; i++) free(b.env[i]);
  free(b.env);
  free(b.task_root);
}

/* ---------- extensions: their processes and phases ---------- */

static int name_order(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Starts the executables in /opt/extensions (in name order) with the function's environment; 0 when there
 * are none (then nothing of this runs again). */
static int ext_start(char **env) {
  DIR *d = opendir("/opt/extensions");
  if (!d) return 0;
  char *names[MAX_EXTS + 1];
  int n = 0, over = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]))) continue;
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "/opt/extensions/%s", de->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (n == MAX_EXTS || strlen(de->d_name) >= sizeof exts[0].file) {
      over = 1;
      continue;
    }
    names[n] = strdup(de->d_name);
    if (!names[n]) die("out of memory");
    n++;
  }
  closedir(d);
  if (over) {
    char line[160];
    int k = snprintf(line, sizeof line,
                     "EXTENSION\tState: Failed\tReason: more than %d extensions, or a name over 127 bytes\n",
                     MAX_EXTS);
    send_log(line, (size_t)k);
    ext_problem = 1;
  }
  if (n == 0) return 0;
  qsort(names, (size_t)n, sizeof *names, name_order);
  exts = calloc((size_t)n, sizeof *exts);
  if (!exts) die("out of memory");
  n_ext = n;
  ext_phase = EXT_INIT;
  ext_phase_until = now_ms() + REGISTER_BOUND_MS;
  for (int i = 0; i < n; i++) {
    ext_t *e = &exts[i];
    memset(e, 0, sizeof *e);
    snprintf(e->file, sizeof e->file, "%s", names[i]);
    free(names[i]);
    e->waiting = -1;
    e->out = -1;
    char path[sizeof e->file + 32];
    memcpy(path, "/opt/extensions/", 17);
    memcpy(path + 16, e->file, strlen(e->file) + 1);
    int outp[2], execp[2];
    if (pipe2(outp, O_CLOEXEC)) {
      e->exited = 1;
      ext_fail(e, "could not start: no pipe");
      continue;
    }
    if (pipe2(execp, O_CLOEXEC)) {
      close(outp[0]);
      close(outp[1]);
      e->exited = 1;
      ext_fail(e, "could not start: no pipe");
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      /* As the bootstrap: stdio only, the channel and our sockets stay behind. */
      dup2(outp[1], 1);
      dup2(outp[1], 2);
      int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (devnull >= 0) dup2(devnull, 0);
      if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
        for (int fd = 3; fd < 4096; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
      signal(SIGCHLD, SIG_DFL);
      signal(SIGPIPE, SIG_DFL);
      if (chdir("/") != 0) _exit(126);
      char *argv[] = {path, NULL};
      execve(path, argv, env);
      int err = errno;
      ssize_t w = write(execp[1], &err, sizeof err);
      (void)w;
      _exit(127);
    }
    close(outp[1]);
    close(execp[1]);
    if (pid < 0) {
      close(outp[0]);
      close(execp[0]);
      e->exited = 1;
      ext_fail(e, "could not start: fork failed");
      continue;
    }
    int err = 0;
    ssize_t got;
    do got = read(execp[0], &err, sizeof err);
    while (got < 0 && errno == EINTR);
    close(execp[0]);
    e->pid = pid;
    e->out = outp[0];
    set_nonblock(e->out);
    if (got == (ssize_t)sizeof err) {
      /* Reaped by the SIGCHLD loop like any other; reported here with the reason. */
      char why[160];
      snprintf(why, sizeof why, "could not start: %s", strerror(err));
      e->exited = 1;
      ext_fail(e, why);
    }
  }
  return 1;
}

static int ext_all_ready(void) {
  for (int k = 0; k < n_ext; k++)
    if (!exts[k].exited && !(exts[k].registered && exts[k].idle)) return 0;
  return 1;
}

static int ext_all_idle(void) {
  for (int k = 0; k < n_ext; k++)
    if (!exts[k].exited && exts[k].registered && !exts[k].idle) return 0;
  return 1;
}

static int ext_all_exited(void) {
  for (int k = 0; k < n_ext; k++)
    if (!exts[k].exited) return 0;
  return 1;
}

/* One of ours was reaped: an extension that ends before SHUTDOWN has failed. */
static void ext_reaped(pid_t pid, int status) {
  for (int k = 0; k < n_ext; k++) {
    ext_t *e = &exts[k];
    if (e->pid != pid) continue;
    e->pid = 0;
    if (e->exited) return;
    e->exited = 1;
    if (ext_phase == EXT_SHUTDOWN) return;
    char why[64];
    if (WIFSIGNALED(status)) {
      const char *sig = sigabbrev_np(WTERMSIG(status));
      if (sig) snprintf(why, sizeof why, "exited (SIG%s)", sig);
      else snprintf(why, sizeof why, "exited (signal %d)", WTERMSIG(status));
    } else {
      snprintf(why, sizeof why, "exited (%d)", WEXITSTATUS(status));
    }
    ext_fail(e, why);
    return;
  }
}

/* The held invocation goes ahead: its INVOKE to the extensions that asked, then to the runtime's /next. The
 * hold was the previous invocation's time, not this one's: its deadline moves on by it, and the host, told
 * so, sets its timer to match. */
static void ext_release(void) {
  if (ext_settling && !ext_all_idle())
    for (int k = 0; k < n_ext; k++)
      if (!exts[k].exited && exts[k].registered && !exts[k].idle) ext_fail(&exts[k], "did not call /event/next");
  ext_settling = 0;
  long long held = now_ms() - inv.arrived;
  if (held > 0) inv.deadline += held;
  buf_t st = {0};
  buf_str(&st, "{\"t\":\"start\",\"id\":");
  buf_json_str(&st, inv.id, strlen(inv.id));
  buf_fmt(&st, ",\"deadline\":%lld}", inv.deadline);
  send_frame(&st, NULL, 0);
  buf_free(&st);
  buf_t ev = {0};
  buf_fmt(&ev, "{\"eventType\":\"INVOKE\",\"deadlineMs\":%lld,\"requestId\":", inv.deadline);
  buf_json_str(&ev, inv.id, strlen(inv.id));
  buf_str(&ev, ",\"invokedFunctionArn\":");
  buf_json_str(&ev, invoked_arn ? invoked_arn : "", invoked_arn ? strlen(invoked_arn) : 0);
  buf_str(&ev, ",\"tracing\":{\"type\":\"X-Amzn-Trace-Id\",\"value\":");
  buf_json_str(&ev, inv.trace ? inv.trace : "", inv.trace ? strlen(inv.trace) : 0);
  buf_str(&ev, "}}");
  buf_add(&ev, "", 1);
  for (int k = 0; k < n_ext; k++)
    if (!exts[k].exited && exts[k].registered && exts[k].want_invoke) ext_deliver(&exts[k], ev.p);
  buf_free(&ev);
  inv.held = 0;
}

/* An invocation arrived: it waits until every extension is done with the previous one (or its deadline). */
static void ext_before_invoke(void) {
  if (ext_settling && !ext_all_idle() && now_ms() < ext_settle_by) inv.held = 1;
  else ext_release();
}

/* The environment is retired: SHUTDOWN to those that asked, then Lambda's grace, then the end. */
static void ext_shutdown(void) {
  if (ext_phase == EXT_SHUTDOWN) return;
  ext_phase = EXT_SHUTDOWN;
  ext_phase_until = now_ms() + SHUTDOWN_GRACE_MS;
  char ev[128];
  snprintf(ev, sizeof ev, "{\"eventType\":\"SHUTDOWN\",\"shutdownReason\":\"spindown\",\"deadlineMs\":%lld}",
           ext_phase_until);
  for (int k = 0; k < n_ext; k++)
    if (!exts[k].exited && exts[k].registered && exts[k].want_shutdown) ext_deliver(&exts[k], ev);
}

/* After each turn of the loop: moves the phases on when their condition holds or their time is up. */
static void ext_tick(void) {
  long long now = now_ms();
  if (ext_phase == EXT_INIT && (ext_all_ready() || now >= ext_phase_until)) {
    for (int k = 0; k < n_ext; k++) {
      ext_t *e = &exts[k];
      if (e->exited) continue;
      if (!e->registered) ext_fail(e, "did not register");
      else if (!e->idle) ext_fail(e, "did not call /event/next");
    }
    ext_phase = EXT_RUNNING;
    struct bind_ctx b = pending_bind;
    memset(&pending_bind, 0, sizeof pending_bind);
    launch_bootstrap(&b);
  }
  if (inv.held && (ext_all_idle() || now >= ext_settle_by)) {
    ext_release();
    deliver_next();
  }
  if (ext_phase == EXT_SHUTDOWN && (ext_all_exited() || now >= ext_phase_until)) {
    for (int k = 0; k < n_ext; k++)
      if (!exts[k].exited && exts[k].pid > 0) kill(exts[k].pid, SIGKILL);
    _exit(0);
  }
}

/* How long poll may sleep before ext_tick has something to do by the clock. */
static int ext_poll_timeout(void) {
  long long until;
  if (ext_phase != EXT_RUNNING) until = ext_phase_until;
  else if (inv.held) until = ext_settle_by;
  else return -1;
  long long left = until - now_ms();
  return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* Output of the bootstrap: the current invocation's log (or init's), as Lambda captures stdout/stderr. */
static int pump_log(int *fd) {
  char tmp[LOG_CHUNK];
  ssize_t n = read(*fd, tmp, sizeof tmp);
  if (n > 0) {
    send_log(tmp, (size_t)n);
    return 1;
  }
  if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close(*fd);
    *fd = -1;
  }
  return 0;
}

/* The bootstrap ended: its last output goes to the log, and the sandbox ends with its status (the host
 * reports Runtime.ExitError for the invocation or init in flight, and later requests get a fresh one). */
static void bootstrap_exited(int status) {
  for (int k = 0; k < 64 && boot_out >= 0 && pump_log(&boot_out);) k++;
  for (int k = 0; k < 64 && boot_err >= 0 && pump_log(&boot_err);) k++;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  _exit(code);
}

/* ---------- frames from the host ---------- */

struct invoke_ctx {
  char *id, *tr, *cc;
  double deadline;
};
static int invoke_member(const char *key, js_t *j, void *ctx) {
  struct invoke_ctx *v = ctx;
  if (!strcmp(key, "id")) return js_str(j, &v->id);
  if (!strcmp(key, "tr")) return js_str(j, &v->tr);
  if (!strcmp(key, "cc")) return js_str(j, &v->cc);
  if (!strcmp(key, "deadline")) return js_num(j, &v->deadline);
  return js_skip(j, 0);
}

struct type_ctx {
  char t[16];
  double n;
};
static int type_member(const char *key, js_t *j, void *ctx) {
  struct type_ctx *v = ctx;
  if (!strcmp(key, "t")) {
    char *s;
    if (js_str(j, &s) < 0) return -1;
    snprintf(v->t, sizeof v->t, "%s", s);
    free(s);
    return 0;
  }
  if (!strcmp(key, "n")) return js_num(j, &v->n);
  return js_skip(j, 0);
}

static void on_frame(const char *h, size_t hlen, const char *body, size_t blen) {
  struct type_ctx t = {{0}, 0};
  js_t j = {h, h + hlen};
  if (js_object(&j, type_member, &t) < 0) return;
  if (!strcmp(t.t, "ping")) {
    buf_t o = {0};
    buf_fmt(&o, "{\"t\":\"pong\",\"n\":%.0f}", t.n);
    send_frame(&o, NULL, 0);
    buf_free(&o);
  } else if (!strcmp(t.t, "bind")) {
    do_bind(h, hlen);
  } else if (!strcmp(t.t, "shutdown")) {
    /* Sent only to an environment whose init said it runs extensions. */
    if (!n_ext) _exit(0);
    ext_shutdown();
  } else if (!strcmp(t.t, "invoke")) {
    struct invoke_ctx v = {0};
    js_t k = {h, h + hlen};
    if (js_object(&k, invoke_member, &v) < 0 || !v.id || state != RT_IDLE || inv.present) {
      if (v.id) {
        const char *e = "{\"errorType\":\"Runtime.Unknown\",\"errorMessage\":\"The runtime is not ready\"}";
        send_result(v.id, 0, "Runtime.Unknown", e, strlen(e));
      }
      free(v.id);
      free(v.tr);
      free(v.cc);
      return;
    }
    clean_header_value(v.id);
    if (v.tr) clean_header_value(v.tr);
    inv.present = 1;
    inv.taken = 0;
    inv.id = v.id;
    inv.trace = v.tr;
    inv.cc = v.cc;
    inv.deadline = (long long)v.deadline;
    inv.arrived = now_ms();
    inv.payload.len = 0;
    buf_add(&inv.payload, body, blen);
    if (n_ext) ext_before_invoke();
    deliver_next();
  }
}

static void chan_read(void) {
  buf_reserve(&chan_in, 64 * 1024);
  ssize_t n = read(chan_fd, chan_in.p + chan_in.len, chan_in.cap - chan_in.len);
  if (n == 0) _exit(0); /* the host is gone */
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    _exit(0);
  }
  chan_in.len += (size_t)n;
  size_t off = 0;
  while (chan_in.len - off >= 8) {
    uint32_t hl = get_u32(chan_in.p + off), bl = get_u32(chan_in.p + off + 4);
    if (hl > 1024 * 1024 || bl > FRAME_LIMIT) die("oversized frame from the host");
    size_t need = 8 + (size_t)hl + bl;
    if (chan_in.len - off < need) {
      buf_reserve(&chan_in, need - (chan_in.len - off));
      break;
    }
    on_frame(chan_in.p + off + 8, hl, chan_in.p + off + 8 + hl, bl);
    off += need;
  }
  buf_consume(&chan_in, off);
  buf_trim(&chan_in);
}

/* ---------- main loop ---------- */

int main(void) {
  const char *ch = getenv("KINDLING_CHANNEL");
  if (ch && !strncmp(ch, "fd:", 3)) chan_fd = atoi(ch + 3);
  relay_port = getenv("KINDLING_RELAY_PORT") ? atoi(getenv("KINDLING_RELAY_PORT")) : 9001;
  api_socket = getenv("KINDLING_API_SOCKET") ? getenv("KINDLING_API_SOCKET") : "/run/kindling/api.sock";
  fcntl(chan_fd, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) die("pipe");
  struct sigaction sa = {0};
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);

  /* The relay first, on the API's own port; the Runtime API on Lambda's 9001, or 9002 when the relay has
   * 9001 (the API's port is the operator's choice); any free port when there is no network namespace. */
  buf_t ready = {0};
  int got_relay = 0;
  relay_listen[0] = listen_tcp(AF_INET, relay_port, &got_relay);
  if (relay_listen[0] < 0) {
    char err[128];
    snprintf(err, sizeof err, "relay: cannot listen on 127.0.0.1:%d: %s", relay_port, strerror(errno));
    buf_str(&ready, "{\"t\":\"ready\",\"relayPort\":0,\"relayError\":");
    buf_json_str(&ready, err, strlen(err));
    buf_str(&ready, "}");
  } else {
    if (relay_port != 0) relay_listen[1] = listen_tcp(AF_INET6, got_relay, NULL);
    buf_fmt(&ready, "{\"t\":\"ready\",\"relayPort\":%d}", got_relay);
  }
  int want = relay_port == 0 ? 0 : (got_relay == 9001 ? 9002 : 9001);
  rapi_listen = listen_tcp(AF_INET, want, &rapi_port);
  if (rapi_listen < 0) die("cannot listen for the Runtime API");
  send_frame(&ready, NULL, 0);
  buf_free(&ready);

  struct pollfd pfd[8 + MAX_HTTP_CONNS + 2 * MAX_RELAY_PAIRS + MAX_EXTS];
  for (;;) {
    int n = 0;
    pfd[n++] = (struct pollfd){chan_fd, POLLIN, 0};
    pfd[n++] = (struct pollfd){sig_pipe[0], POLLIN, 0};
    pfd[n++] = (struct pollfd){rapi_listen, POLLIN, 0};
    pfd[n++] = (struct pollfd){relay_listen[0], POLLIN, 0};
    pfd[n++] = (struct pollfd){relay_listen[1], POLLIN, 0};
    pfd[n++] = (struct pollfd){boot_out, POLLIN, 0};
    pfd[n++] = (struct pollfd){boot_err, POLLIN, 0};
    int conn_at[MAX_HTTP_CONNS], relay_at[MAX_RELAY_PAIRS], ext_at = n, ext_n = n_ext;
    for (int k = 0; k < ext_n; k++) pfd[n++] = (struct pollfd){exts[k].out, POLLIN, 0};
    for (int i = 0; i < MAX_HTTP_CONNS; i++) {
      conn_at[i] = -1;
      if (!conns[i]) continue;
      conn_at[i] = n;
      /* A client that does not read its answers (or is being closed) is not read from either. */
      conn_t *c = conns[i];
      short ev = (short)(c->out.len ? POLLOUT : 0);
      if (!c->closing && c->out.len < OUT_BACKLOG) ev |= POLLIN;
      pfd[n++] = (struct pollfd){c->fd, ev, 0};
    }
    for (int i = 0; i < MAX_RELAY_PAIRS; i++) {
      relay_at[i] = -1;
      if (!relays[i]) continue;
      relay_at[i] = n;
      pfd[n++] = (struct pollfd){relays[i]->fd[0], relay_events(relays[i], 0), 0};
      pfd[n++] = (struct pollfd){relays[i]->fd[1], relay_events(relays[i], 1), 0};
    }
    if (poll(pfd, (nfds_t)n, n_ext ? ext_poll_timeout() : -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (pfd[1].revents) {
      char tmp[64];
      while (read(sig_pipe[0], tmp, sizeof tmp) > 0) {
      }
      int status;
      pid_t p;
      while ((p = waitpid(-1, &status, WNOHANG)) > 0)
        if (p == boot_pid) bootstrap_exited(status);
        else if (n_ext) ext_reaped(p, status);
    }
    if (pfd[0].revents) chan_read();
    if (pfd[2].revents) rapi_accept();
    if (pfd[3].revents) relay_accept(relay_listen[0]);
    if (pfd[4].revents) relay_accept(relay_listen[1]);
    if (pfd[5].revents && boot_out >= 0) pump_log(&boot_out);
    if (pfd[6].revents && boot_err >= 0) pump_log(&boot_err);
    for (int k = 0; k < ext_n; k++)
      if (pfd[ext_at + k].revents && exts[k].out >= 0) pump_log(&exts[k].out);
    for (int i = 0; i < MAX_HTTP_CONNS; i++) {
      if (conn_at[i] < 0 || !conns[i]) continue;
      conn_t *c = conns[i];
      short re = pfd[conn_at[i]].revents;
      if (re & POLLOUT) conn_flush(c);
      if (re & (POLLIN | POLLHUP | POLLERR)) {
        buf_reserve(&c->in, 64 * 1024);
        ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (r > 0) {
          c->in.len += (size_t)r;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          conn_close(i);
          continue;
        }
      }
      if (!c->parked && !c->closing) conn_process(i);
      conn_flush(c);
      if (c->closing && c->out.len == 0) conn_close(i);
      else if (c->in.len > HEAD_LIMIT + RELAY_BUF && c->parked) conn_close(i); /* pipelining while parked */
    }
    for (int i = 0; i < MAX_RELAY_PAIRS; i++) {
      if (relay_at[i] < 0 || !relays[i]) continue;
      short rev[2] = {pfd[relay_at[i]].revents, pfd[relay_at[i] + 1].revents};
      if ((rev[0] | rev[1]) && relay_pump(relays[i], rev) < 0) relay_close(i);
    }
    if (n_ext) ext_tick();
  }
}
