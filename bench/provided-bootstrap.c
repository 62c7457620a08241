/* The bench's custom runtime: a compiled bootstrap that keeps one HTTP/1.1 connection to the Runtime API (as
 * the Go and Rust runtime clients do) and answers each event with {"ok":true,"echo":<event>}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd = -1;
static char buf[1 << 20];
static size_t have;

static void connect_api(void) {
  char host[64];
  int port;
  if (sscanf(getenv("AWS_LAMBDA_RUNTIME_API"), "%63[^:]:%d", host, &port) != 2) exit(2);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) exit(3);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void send_all(const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) exit(4);
    p += w;
    n -= (size_t)w;
  }
}

/* Reads one response; returns its body (in buf) and the request id header when asked. */
static char *read_response(size_t *blen, char *rid, size_t ridn) {
  char *end;
  while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) exit(5);
    have += (size_t)n;
  }
  *end = 0;
  char *cl = strcasestr(buf, "\r\nContent-Length:");
  size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
  if (rid) {
    char *id = strcasestr(buf, "\r\nLambda-Runtime-Aws-Request-Id:");
    if (!id) exit(6);
    sscanf(id + 32, " %127[^\r\n]", rid);
    (void)ridn;
  }
  size_t head = (size_t)(end - buf) + 4;
  while (have < head + len) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) exit(7);
    have += (size_t)n;
  }
  static char body[1 << 20];
  memcpy(body, buf + head, len);
  memmove(buf, buf + head + len, have - head - len);
  have -= head + len;
  *blen = len;
  return body;
}

int main(void) {
  connect_api();
  static char req[1 << 20], out[1 << 20];
  for (;;) {
    const char *get = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapi\r\n\r\n";
    send_all(get, strlen(get));
    char rid[128];
    size_t elen;
    char *event = read_response(&elen, rid, sizeof rid);
    int n = snprintf(out, sizeof out, "{\"ok\":true,\"echo\":%.*s}", (int)elen, event);
    int m = snprintf(req, sizeof req,
                     "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rapi\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     rid, n, out);
    send_all(req, (size_t)m);
    size_t ignored;
    read_response(&ignored, NULL, 0);
  }
}
