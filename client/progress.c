/* client/progress.c - progress output of pulls and pushes, on stderr.
 *
 * Three modes, chosen once:
 *   --quiet        nothing;
 *   a terminal     one line per item, redrawn in place at most every
 *                  REDRAW_MS: label, state, bytes done / total, rate, ETA;
 *   anything else  for an item whose bytes move, one line when they start
 *                  and one when it is over: "downloading sha256:... (12.3 MiB)",
 *                  "pulled sha256:... (12.3 MiB)"; one line for an item
 *                  skipped ("exists", "mounted"); none for a failed one (the
 *                  verb's error line says it).
 * Invariants: only this file writes progress; the terminal block is always
 * n_drawn lines high and the cursor sits just below it between redraws.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/cli.h"

#define REDRAW_MS 150
#define MAX_ITEMS_SHOWN 40 /* a terminal block taller than this is not redrawn per item */

struct item {
  char label[WH_DIGEST_STR_MAX];
  uint64_t total, done;
  const char *status; /* NULL while running; static string */
  int64_t start_ms, end_ms;
  bool started; /* line-based mode: its "started" line is out */
};

struct cli_progress {
  bool quiet, tty;
  const char *running; /* static: the state word of unfinished items */
  struct item *items;  /* owned */
  size_t n, cap;
  size_t n_drawn; /* lines of the terminal block drawn so far */
  int64_t last_ms;
};

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_human_size(uint64_t n, char *out, size_t size)
{
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)n;
  size_t u = 0;

  while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, size, "%llu B", (unsigned long long)n);
  else
    snprintf(out, size, "%.1f %s", v, units[u]);
}

struct cli_progress *cli_progress_new(const struct cli_opts *o, const char *running)
{
  struct cli_progress *p = calloc(1, sizeof(*p));

  if (p == NULL)
    return NULL;
  p->quiet = o->quiet;
  p->tty = o->tty && !o->quiet;
  p->running = running;
  return p;
}

size_t cli_progress_add(struct cli_progress *p, const char *label, uint64_t total)
{
  struct item *it;

  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    struct item *n = realloc(p->items, cap * sizeof(*n));
    if (n == NULL)
      return SIZE_MAX; /* progress is best effort */
    p->items = n;
    p->cap = cap;
  }
  it = &p->items[p->n];
  memset(it, 0, sizeof(*it));
  snprintf(it->label, sizeof(it->label), "%s", label);
  it->total = total;
  it->start_ms = now_ms();
  return p->n++;
}

/* The line-based mode's "started" line, once per item. */
static void say_started(struct cli_progress *p, struct item *it)
{
  char size[32];

  if (it->started || p->quiet || p->tty)
    return;
  it->started = true;
  cli_human_size(it->total, size, sizeof(size));
  fprintf(stderr, "%s %s (%s)\n", p->running, it->label, size);
}

void cli_progress_set(struct cli_progress *p, size_t i, uint64_t done)
{
  if (p == NULL || i >= p->n)
    return;
  p->items[i].done = done;
  if (done > 0)
    say_started(p, &p->items[i]);
}

/* "sha256:0123456789ab" - enough to tell layers apart on one line */
static void short_label(const char *l, char *out, size_t size)
{
  const char *colon = strchr(l, ':');

  snprintf(out, size, "%.*s", colon ? (int)(colon - l) + 13 : 19, l);
}

static void draw_line(const struct item *it, const char *running, int64_t now)
{
  char lab[32], done[32], total[32], rate[32] = "", eta[32] = "";
  int64_t ms = (it->end_ms ? it->end_ms : now) - it->start_ms;
  double bps = ms > 0 ? (double)it->done * 1000.0 / (double)ms : 0;

  short_label(it->label, lab, sizeof(lab));
  cli_human_size(it->done, done, sizeof(done));
  cli_human_size(it->total, total, sizeof(total));
  if (bps > 0) {
    cli_human_size((uint64_t)bps, rate, sizeof(rate));
    strncat(rate, "/s", sizeof(rate) - strlen(rate) - 1);
  }
  if (!it->status && bps > 0 && it->total > it->done)
    snprintf(eta, sizeof(eta), "ETA %.0fs", (double)(it->total - it->done) / bps);
  fprintf(stderr, "\r\033[K%s  %-11s %10s / %-10s %12s %s\n", lab, it->status ? it->status : running, done,
          total, rate, eta);
}

static void redraw(struct cli_progress *p)
{
  int64_t now = now_ms();
  size_t first = p->n > MAX_ITEMS_SHOWN ? p->n - MAX_ITEMS_SHOWN : 0;

  if (p->n_drawn > 0)
    fprintf(stderr, "\033[%zuA", p->n_drawn);
  for (size_t i = first; i < p->n; i++)
    draw_line(&p->items[i], p->running, now);
  p->n_drawn = p->n - first;
  fflush(stderr);
  p->last_ms = now;
}

void cli_progress_finish(struct cli_progress *p, size_t i, const char *status)
{
  struct item *it;
  char size[32];

  if (p == NULL || i >= p->n)
    return;
  it = &p->items[i];
  it->status = status;
  it->end_ms = now_ms();
  if (it->done < it->total && strcmp(status, "failed") != 0)
    it->done = it->total;
  if (p->quiet)
    return;
  if (p->tty) {
    redraw(p);
    return;
  }
  if (strcmp(status, "failed") == 0)
    return; /* the verb's one error line says what failed */
  /* bytes moved: a "started" line first; nothing moved (exists, mounted): one line */
  if (strcmp(status, "exists") != 0 && strcmp(status, "mounted") != 0)
    say_started(p, it);
  cli_human_size(it->total, size, sizeof(size));
  fprintf(stderr, "%s %s (%s)\n", status, it->label, size);
}

void cli_progress_tick(struct cli_progress *p)
{
  if (p && p->tty && p->n > 0 && now_ms() - p->last_ms >= REDRAW_MS)
    redraw(p);
}

void cli_progress_flush(struct cli_progress *p)
{
  if (p == NULL)
    return;
  if (p->tty && p->n > 0)
    redraw(p);
  fflush(stderr);
  p->n = 0;
  p->n_drawn = 0;
}

void cli_progress_free(struct cli_progress *p)
{
  if (p == NULL)
    return;
  if (p->tty && p->n > 0)
    redraw(p);
  free(p->items);
  free(p);
}
