/* client/cmd_build.c - `wharf build`: a Dockerfile (Wharffile,
 * Containerfile) turned into an image, one step at a time.
 *
 * Each step starts from the image of the step before (committed to the
 * local repository CLI_BUILD_REPO) and ends in a new image committed there
 * and tagged with the step's cache key ("k" + sha256 hex of the parent
 * image digest, the instruction after substitution and what it depends on:
 * the environment for RUN, the content of what COPY/ADD copy). A step whose
 * key is tagged already is not run: its image is reused. RUN runs in the
 * same confined container as `wharf run` and its layer is the overlay
 * upper directory it leaves (client/layerw.h); COPY and ADD stage their
 * files in a temporary directory that becomes the layer; the other
 * instructions change the config alone.
 *
 * Invariants: the whole file is parsed and every COPY/ADD source that
 * needs no variable is checked (inside the context, present) before any
 * step runs; nothing of the context is followed out of it (openat2
 * RESOLVE_IN_ROOT); a failed step leaves the image of the last good one
 * committed and printed, so `wharf run -it ID sh` opens that state.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "client/caps.h"
#include "client/cli.h"
#include "client/commit.h"
#include "client/container.h"
#include "client/dockerfile.h"
#include "client/extract.h"
#include "client/layerw.h"
#include "client/remote.h"
#include "client/run.h"
#include "common/cleanup.h"
#include "common/crypto-lazy.h"
#include "common/fsutil.h"

#define CLI_BUILD_REPO "localhost/wharf-build"
#define MAX_TAGS 32
#define MAX_BUILD_ARGS 256
#define TAIL_LINES 15
#define DEFAULT_SHELL "[\"/bin/sh\", \"-c\"]"

struct build_args {
  const char *file, *target, *platform, *network, *context;
  const char *tags[MAX_TAGS];
  size_t n_tags;
  const char *bargs[MAX_BUILD_ARGS];
  size_t n_bargs;
  bool no_cache, pull, quiet;
  enum cli_layerw_compression comp;
};

struct stage_out {
  bool built;
  struct wh_digest digest;
};

struct build {
  const struct cli_opts *o;
  const struct build_args *a;
  struct store *st;
  int ctxfd;
  char fname[64];
  struct cli_ignore ig;
  struct cli_df_file df;
  struct cli_df_env bargs;      /* --build-arg */
  struct cli_df_env global;     /* ARGs before the first FROM, with their values */
  struct stage_out *stages;
  size_t step, n_steps;
  char tmpdir[PATH_MAX];        /* <root>/build-tmp */
};

/* What a stage carries from step to step. */
struct bstate {
  struct cli_image_state img;
  struct wh_digest digest; /* the committed image of img */
  struct cli_df_env args;  /* ARGs in scope with a value */
  bool cmd_set;            /* CMD given in this stage (ENTRYPOINT keeps it then) */
};

/* ---- small helpers --------------------------------------------------------------- */

static void sha256_hex(const void *p, size_t n, char out[65])
{
  unsigned char md[32];
  unsigned int len = 0;

  EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static json_t *cfg_obj(struct bstate *b)
{
  json_t *c = json_object_get(b->img.config, "config");

  if (!json_is_object(c)) {
    c = json_object();
    json_object_set_new(b->img.config, "config", c);
  }
  return c;
}

static const char *cfg_str(struct bstate *b, const char *key)
{
  return json_string_value(json_object_get(cfg_obj(b), key));
}

/* The environment a step's words expand with: ARGs, then ENV over them. */
static enum wh_code expand_env(struct bstate *b, struct cli_df_env *out, struct wh_err *err)
{
  size_t i;
  json_t *e;

  cli_df_env_init(out);
  if (cli_df_env_copy(out, &b->args) != WH_OK)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  json_array_foreach(json_object_get(cfg_obj(b), "Env"), i, e)
  {
    const char *kv = json_string_value(e), *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq)
      continue;
    char *k = strndup(kv, (size_t)(eq - kv));
    enum wh_code rc = k ? cli_df_env_set(out, k, eq + 1) : WH_ENOMEM;
    free(k);
    if (rc != WH_OK)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  return WH_OK;
}

static enum wh_code expand1(struct build *bd, struct bstate *b, const char *word, char **out, struct wh_err *err)
{
  struct cli_df_env env;
  enum wh_code rc = expand_env(b, &env, err);

  if (rc == WH_OK)
    rc = cli_df_expand(word, &env, bd->df.escape, 0, out, err);
  cli_df_env_release(&env);
  return rc;
}

static void set_env(struct bstate *b, const char *key, const char *value)
{
  json_t *c = cfg_obj(b), *env = json_object_get(c, "Env"), *e;
  size_t klen = strlen(key), i;
  char *kv;

  if (!json_is_array(env)) {
    env = json_array();
    json_object_set_new(c, "Env", env);
  }
  if (asprintf(&kv, "%s=%s", key, value) < 0)
    return;
  json_array_foreach(env, i, e)
  {
    const char *s = json_string_value(e);
    if (s && strncmp(s, key, klen) == 0 && s[klen] == '=') {
      json_array_set_new(env, i, json_string(kv));
      free(kv);
      return;
    }
  }
  json_array_append_new(env, json_string(kv));
  free(kv);
}

/* ---- images: load, commit, cache ------------------------------------------------ */

/* The stored image repo@d (manifest and config) into v (initialised by
 * the caller, released by it whatever the result). */
static enum wh_code view_at(struct build *bd, const char *repo, const struct wh_digest *d, struct cli_view *v,
                            struct wh_err *err)
{
  struct cli_ref ref = {0};
  char *refstr = NULL;
  enum wh_code rc;

  if (asprintf(&refstr, "%s@%s", repo, d->str) < 0)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  rc = cli_ref_parse(refstr, 0, &ref, err);
  free(refstr);
  if (rc == WH_OK)
    rc = cli_view_local(bd->st, &ref, bd->a->platform, false, v, err);
  cli_ref_release(&ref);
  return rc;
}

static enum wh_code load_state(struct build *bd, const char *repo, const struct wh_digest *d, struct bstate *b,
                               struct wh_err *err)
{
  struct cli_view v;
  enum wh_code rc;

  cli_view_init(&v);
  if ((rc = view_at(bd, repo, d, &v, err)) == WH_OK) {
    cli_image_state_release(&b->img);
    rc = cli_image_state_load(v.image, &v.config, &b->img, err);
    b->digest = v.is_index ? v.child_digest : v.digest;
  }
  cli_view_release(&v);
  return rc;
}

/* Cache lookup: the image tagged with key in the build repository. */
static bool cache_get(struct build *bd, const char *key, struct bstate *b)
{
  struct store_manifest m;

  if (bd->a->no_cache || store_manifest_get(bd->st, CLI_BUILD_REPO, key, &m, NULL, NULL) != WH_OK)
    return false;
  return load_state(bd, CLI_BUILD_REPO, &m.digest, b, NULL) == WH_OK;
}

static enum wh_code commit(struct build *bd, struct bstate *b, const char *key, struct wh_err *err)
{
  return cli_image_state_commit(bd->st, CLI_BUILD_REPO, &b->img, key, &b->digest, err);
}

/* What every key also depends on: the layer compression asked for. */
static const char *key_salt = "zstd";

/* key = sha256(parent digest, what, extra) */
static void step_key(const struct bstate *b, const char *what, const char *extra, char key[67])
{
  size_t n = strlen(b->digest.str) + strlen(what) + (extra ? strlen(extra) : 0) + strlen(key_salt) + 6;
  char *buf = malloc(n), hex[65];

  key[0] = 'k';
  if (!buf) {
    memset(key + 1, '0', 64), key[65] = '\0';
    return;
  }
  snprintf(buf, n, "%s\n%s\n%s\n%s", key_salt, b->digest.str, what, extra ? extra : "");
  sha256_hex(buf, strlen(buf), hex);
  free(buf);
  memcpy(key + 1, hex, 65);
}

static void say(struct build *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct build *bd, const char *fmt, ...)
{
  va_list ap;

  if (bd->a->quiet)
    return;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

/* ---- FROM ---------------------------------------------------------------------- */

static enum wh_code from_image(struct build *bd, const char *name, struct bstate *b, struct wh_err *err)
{
  struct cli_ref ref = {0};
  struct cli_view v;
  enum wh_code rc;

  for (size_t i = 0; i < bd->df.nstages; i++) {
    const struct cli_df_stage *sg = &bd->df.stages[i];
    if (sg->name && strcasecmp(sg->name, name) == 0) {
      if (!bd->stages[i].built)
        return wh_err_set(err, WH_EINVALID, 0, "stage \"%s\" is used before it is built", name);
      return load_state(bd, CLI_BUILD_REPO, &bd->stages[i].digest, b, err);
    }
  }
  if (strcmp(name, "scratch") == 0) {
    struct cli_platform p;
    cli_platform_host(&p);
    cli_image_state_release(&b->img);
    if ((rc = cli_image_state_scratch(p.os, p.arch, &b->img, err)) != WH_OK)
      return rc;
    char key[67];
    memset(&b->digest, 0, sizeof(b->digest));
    step_key(b, "FROM scratch", p.arch, key);
    return commit(bd, b, key, err);
  }
  if ((rc = cli_ref_parse(name, 0, &ref, err)) != WH_OK)
    return rc;
  cli_view_init(&v);
  rc = bd->a->pull ? WH_ENOTFOUND : cli_view_local(bd->st, &ref, bd->a->platform, false, &v, err);
  if (rc == WH_ENOTFOUND) {
    char *pargv[] = {"pull", (char *)name, NULL};
    say(bd, "pulling %s\n", name);
    if (cli_cmd_pull(bd->o, 2, pargv) != 0)
      rc = wh_err_set(err, WH_ENOTFOUND, 0, "base image %s not found and could not be pulled", name);
    else {
      cli_view_release(&v);
      cli_view_init(&v);
      rc = cli_view_local(bd->st, &ref, bd->a->platform, false, &v, err);
    }
  }
  if (rc == WH_OK) {
    const struct wh_digest *d = v.is_index ? &v.child_digest : &v.digest;
    rc = cli_image_copy_local(bd->st, ref.repo, d, CLI_BUILD_REPO, NULL, err);
    if (rc == WH_OK) {
      cli_image_state_release(&b->img);
      rc = cli_image_state_load(v.image, &v.config, &b->img, err);
      b->digest = *d;
    }
  }
  cli_view_release(&v);
  cli_ref_release(&ref);
  return rc;
}

/* ---- metadata steps ------------------------------------------------------------- */

static json_t *words_json(char *const *v, size_t n)
{
  json_t *a = json_array();

  for (size_t i = 0; a && i < n; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

/* exec form: the array; shell form: SHELL + [line]. */
static json_t *command_json(struct bstate *b, const struct cli_df_inst *in)
{
  if (in->json)
    return words_json(in->args, in->nargs);
  json_t *sh = json_object_get(cfg_obj(b), "Shell");
  json_t *a = json_is_array(sh) && json_array_size(sh) ? json_deep_copy(sh) : json_loads(DEFAULT_SHELL, 0, NULL);
  if (a && in->nargs)
    json_array_append_new(a, json_string(in->args[0]));
  return a;
}

/* HEALTHCHECK, SHELL and ONBUILD are Docker fields of the config that the
 * OCI image spec does not define (tools may drop them): a copy goes into
 * a label too, which every tool keeps; `wharf run` and `wharf build` read
 * the field, else the label. */
static void mirror_label(struct bstate *b, const char *label, json_t *value)
{
  json_t *c = cfg_obj(b), *labels = json_object_get(c, "Labels");
  char *text = value ? json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

  if (!json_is_object(labels))
    json_object_set_new(c, "Labels", labels = json_object());
  if (text)
    json_object_set_new(labels, label, json_string(text));
  free(text);
}

static enum wh_code meta_step(struct build *bd, struct bstate *b, const struct cli_df_inst *in, struct wh_err *err)
{
  json_t *c = cfg_obj(b);
  char *v = NULL;
  enum wh_code rc = WH_OK;

  switch (in->kind) {
  case CLI_DF_ENV: {
    /* ENV a=1 b=$a: every value expands with the environment before the line */
    struct cli_df_env before;
    if ((rc = expand_env(b, &before, err)) != WH_OK)
      return rc;
    for (size_t i = 0; rc == WH_OK && i < in->npairs; i++) {
      char *k = NULL, *val = NULL;
      if ((rc = cli_df_expand(in->pairs[i].key, &before, bd->df.escape, 0, &k, err)) == WH_OK &&
          (rc = cli_df_expand(in->pairs[i].value, &before, bd->df.escape, 0, &val, err)) == WH_OK)
        set_env(b, k, val);
      free(k), free(val);
    }
    cli_df_env_release(&before);
    return rc;
  }
  case CLI_DF_LABEL: {
    json_t *labels = json_object_get(c, "Labels");
    if (!json_is_object(labels))
      json_object_set_new(c, "Labels", labels = json_object());
    for (size_t i = 0; rc == WH_OK && i < in->npairs; i++) {
      char *k = NULL, *val = NULL;
      if ((rc = expand1(bd, b, in->pairs[i].key, &k, err)) == WH_OK &&
          (rc = expand1(bd, b, in->pairs[i].value, &val, err)) == WH_OK)
        json_object_set_new(labels, k, json_string(val));
      free(k), free(val);
    }
    return rc;
  }
  case CLI_DF_MAINTAINER:
    json_object_set_new(b->img.config, "author", json_string(in->args[0]));
    return WH_OK;
  case CLI_DF_WORKDIR: {
    if ((rc = expand1(bd, b, in->args[0], &v, err)) != WH_OK)
      return rc;
    const char *cur = cfg_str(b, "WorkingDir");
    char *full = NULL;
    if (v[0] == '/')
      full = strdup(v);
    else if (asprintf(&full, "%s/%s", cur && *cur ? cur : "", v) < 0)
      full = NULL;
    free(v);
    if (!full)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    json_object_set_new(c, "WorkingDir", json_string(full[0] == '/' ? full : "/"));
    free(full);
    return WH_OK;
  }
  case CLI_DF_USER:
    if ((rc = expand1(bd, b, in->args[0], &v, err)) == WH_OK)
      json_object_set_new(c, "User", json_string(v));
    free(v);
    return rc;
  case CLI_DF_STOPSIGNAL:
    if ((rc = expand1(bd, b, in->args[0], &v, err)) != WH_OK)
      return rc;
    if (!cli_signal_parse(v))
      rc = wh_err_set(err, WH_EINVALID, 0, "STOPSIGNAL: unknown signal \"%s\"", v);
    else
      json_object_set_new(c, "StopSignal", json_string(v));
    free(v);
    return rc;
  case CLI_DF_CMD:
    json_object_set_new(c, "Cmd", command_json(b, in));
    b->cmd_set = true;
    return WH_OK;
  case CLI_DF_ENTRYPOINT:
    json_object_set_new(c, "Entrypoint", command_json(b, in));
    if (!b->cmd_set) /* as docker: an ENTRYPOINT resets the base's CMD */
      json_object_del(c, "Cmd");
    return WH_OK;
  case CLI_DF_SHELL:
    json_object_set_new(c, "Shell", words_json(in->args, in->nargs));
    mirror_label(b, CLI_LABEL_SHELL, json_object_get(c, "Shell"));
    return WH_OK;
  case CLI_DF_EXPOSE: {
    json_t *ports = json_object_get(c, "ExposedPorts");
    if (!json_is_object(ports))
      json_object_set_new(c, "ExposedPorts", ports = json_object());
    for (size_t i = 0; rc == WH_OK && i < in->nargs; i++) {
      if ((rc = expand1(bd, b, in->args[i], &v, err)) != WH_OK)
        break;
      char p[64];
      snprintf(p, sizeof(p), "%s%s", v, strchr(v, '/') ? "" : "/tcp");
      json_object_set_new(ports, p, json_object());
      free(v), v = NULL;
    }
    return rc;
  }
  case CLI_DF_VOLUME: {
    json_t *vols = json_object_get(c, "Volumes");
    if (!json_is_object(vols))
      json_object_set_new(c, "Volumes", vols = json_object());
    for (size_t i = 0; rc == WH_OK && i < in->nargs; i++) {
      if ((rc = expand1(bd, b, in->args[i], &v, err)) == WH_OK)
        json_object_set_new(vols, v, json_object());
      free(v), v = NULL;
    }
    return rc;
  }
  case CLI_DF_HEALTHCHECK: {
    const struct cli_df_health *h = &in->health;
    json_t *hc = json_object(), *test;
    if (h->none)
      test = json_pack("[s]", "NONE");
    else if (!in->json)
      test = json_pack("[s, s]", "CMD-SHELL", in->nargs ? in->args[0] : "");
    else {
      test = json_pack("[s]", "CMD");
      for (size_t i = 0; i < in->nargs; i++)
        json_array_append_new(test, json_string(in->args[i]));
    }
    json_object_set_new(hc, "Test", test);
    if (h->interval_ns)
      json_object_set_new(hc, "Interval", json_integer(h->interval_ns));
    if (h->timeout_ns)
      json_object_set_new(hc, "Timeout", json_integer(h->timeout_ns));
    if (h->start_period_ns)
      json_object_set_new(hc, "StartPeriod", json_integer(h->start_period_ns));
    if (h->start_interval_ns)
      json_object_set_new(hc, "StartInterval", json_integer(h->start_interval_ns));
    if (h->retries)
      json_object_set_new(hc, "Retries", json_integer(h->retries));
    json_object_set_new(c, "Healthcheck", hc);
    mirror_label(b, CLI_LABEL_HEALTHCHECK, hc);
    return WH_OK;
  }
  case CLI_DF_ONBUILD: {
    json_t *ob = json_object_get(c, "OnBuild");
    if (!json_is_array(ob))
      json_object_set_new(c, "OnBuild", ob = json_array());
    json_array_append_new(ob, json_string(in->onbuild_expr));
    mirror_label(b, CLI_LABEL_ONBUILD, ob);
    return WH_OK;
  }
  default:
    return wh_err_set(err, WH_EINTERNAL, 0, "not a metadata instruction");
  }
}

/* ---- ARG ---------------------------------------------------------------------- */

static enum wh_code arg_step(struct build *bd, struct bstate *b, const struct cli_df_inst *in, struct wh_err *err)
{
  for (size_t i = 0; i < in->npairs; i++) {
    const char *k = in->pairs[i].key;
    const char *given = cli_df_env_get(&bd->bargs, k);
    char *def = NULL;
    enum wh_code rc = WH_OK;
    if (given)
      rc = cli_df_env_set(&b->args, k, given);
    else if (in->pairs[i].value) {
      if ((rc = expand1(bd, b, in->pairs[i].value, &def, err)) == WH_OK)
        rc = cli_df_env_set(&b->args, k, def);
    } else if (cli_df_env_get(&bd->global, k)) /* ARG x in a stage: the global value */
      rc = cli_df_env_set(&b->args, k, cli_df_env_get(&bd->global, k));
    free(def);
    if (rc != WH_OK)
      return rc;
  }
  return WH_OK;
}

/* ---- RUN ----------------------------------------------------------------------- */

struct tail {
  int fd;
  bool quiet;
  char lines[TAIL_LINES][256];
  size_t next, count;
  char cur[256];
  size_t cur_len;
};

static void tail_push(struct tail *t)
{
  t->cur[t->cur_len] = '\0';
  snprintf(t->lines[t->next], sizeof(t->lines[0]), "%s", t->cur);
  t->next = (t->next + 1) % TAIL_LINES;
  if (t->count < TAIL_LINES)
    t->count++;
  t->cur_len = 0;
}

static void *tail_thread(void *arg)
{
  struct tail *t = arg;
  char buf[4096];
  ssize_t n;

  while ((n = read(t->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n < 0)
      continue;
    if (!t->quiet && write(STDERR_FILENO, buf, (size_t)n) < 0) {
      /* nothing to do */
    }
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n' || t->cur_len == sizeof(t->cur) - 1)
        tail_push(t);
      if (buf[i] != '\n')
        t->cur[t->cur_len++] = buf[i];
    }
  }
  if (t->cur_len)
    tail_push(t);
  return NULL;
}

/* The RUN command: exec form as it is; shell form (with its heredocs, which
 * the shell reads itself) through the image's SHELL. A RUN that is only a
 * heredoc runs the heredoc's text. */
static enum wh_code run_argv(struct bstate *b, const struct cli_df_inst *in, char ***out, struct wh_err *err)
{
  json_t *cmd = NULL;
  char *script = NULL;

  if (in->json) {
    cmd = words_json(in->args, in->nargs);
  } else {
    const char *line = in->nargs ? in->args[0] : "";
    size_t n = strlen(line) + 2;
    for (size_t i = 0; i < in->nheredocs; i++)
      n += in->heredocs[i].len + strlen(in->heredocs[i].name) + 4;
    if (!(script = malloc(n)))
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    const char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    if (in->nheredocs == 1 && strncmp(p, "<<", 2) == 0 && !strchr(p, ' ')) {
      char *text = cli_df_heredoc_text(&in->heredocs[0]);
      free(script);
      script = text;
    } else {
      size_t used = (size_t)snprintf(script, n, "%s\n", line);
      for (size_t i = 0; i < in->nheredocs; i++)
        used += (size_t)snprintf(script + used, n - used, "%.*s%s\n", (int)in->heredocs[i].len,
                                 in->heredocs[i].content, in->heredocs[i].name);
    }
    if (!script)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    json_t *sh = json_object_get(cfg_obj(b), "Shell");
    cmd = json_is_array(sh) && json_array_size(sh) ? json_deep_copy(sh) : json_loads(DEFAULT_SHELL, 0, NULL);
    if (cmd)
      json_array_append_new(cmd, json_string(script));
    free(script);
  }
  if (!cmd || json_array_size(cmd) == 0) {
    json_decref(cmd);
    return wh_err_set(err, WH_EINVALID, 0, "RUN: no command");
  }
  char **v = calloc(json_array_size(cmd) + 1, sizeof(*v));
  for (size_t i = 0; v && i < json_array_size(cmd); i++)
    v[i] = strdup(json_string_value(json_array_get(cmd, i)) ? json_string_value(json_array_get(cmd, i)) : "");
  json_decref(cmd);
  if (!v)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  *out = v;
  return WH_OK;
}

/* Environment of a RUN: the image's Env plus the ARGs in scope. */
static char **run_env(struct bstate *b)
{
  struct cli_df_env env;
  char **v = NULL;

  if (expand_env(b, &env, NULL) != WH_OK)
    return NULL;
  if (!cli_df_env_get(&env, "PATH"))
    cli_df_env_set(&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  v = calloc(env.n + 1, sizeof(*v));
  for (size_t i = 0; v && i < env.n; i++)
    if (asprintf(&v[i], "%s=%s", env.v[i].key, env.v[i].value) < 0)
      v[i] = NULL;
  cli_df_env_release(&env);
  return v;
}

/* Mount targets the runtime made in the upper directory that the image
 * did not have: not part of what RUN changed. */
static void clean_upper(const struct cli_run_spec *s, int upper)
{
  static const char *const etc[] = {"etc/hosts", "etc/hostname", "etc/resolv.conf"};
  static const char *const dirs[] = {"proc", "sys", "dev"};
  struct stat sb;

  for (size_t i = 0; i < WH_ARRAY_LEN(etc); i++)
    if (fstatat(upper, etc[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
      unlinkat(upper, etc[i], 0);
  for (size_t i = 0; i < WH_ARRAY_LEN(dirs); i++) {
    bool in_lower = false;
    for (size_t l = 0; l < s->n_lowers && !in_lower; l++) {
      char p[PATH_MAX];
      snprintf(p, sizeof(p), "%s/%s/%s", s->layers_dir, s->lowers[l], dirs[i]);
      in_lower = lstat(p, &sb) == 0;
    }
    if (!in_lower)
      unlinkat(upper, dirs[i], AT_REMOVEDIR); /* only when empty */
  }
}

/* Turns dirfd into a layer in the build repository and appends it. */
static enum wh_code add_layer_from(struct build *bd, struct bstate *b, int dirfd, enum cli_layerw_mode mode,
                                   const struct cli_idmap *map, struct cli_layerw_result *r, struct wh_err *err)
{
  char path[PATH_MAX];
  struct cli_layerw_opts lo;
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  cli_layerw_opts_init(&lo);
  lo.compression = bd->a->comp;
  lo.threads = 2;
  lo.mode = mode;
  if (getenv("SOURCE_DATE_EPOCH"))
    lo.source_date_epoch = cli_build_time();
  if (map && !map->rootless) {
    lo.uid_base = map->uid_base;
    lo.gid_base = map->gid_base;
    lo.id_count = map->count;
  }
  if (map && map->rootless)
    lo.flags |= CLI_LAYERW_USER_XATTR;
  snprintf(path, sizeof(path), "%s", bd->tmpdir);
  fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "temp file in %s", path);
  if ((rc = cli_layerw_from_dir(dirfd, &lo, fd, r, err)) != WH_OK)
    return wh_err_wrap(err, "write the layer");
  if (lseek(fd, 0, SEEK_SET) < 0)
    return wh_err_set(err, WH_EIO, errno, "seek");
  /* the same bytes stored already (a rebuild): linked, nothing written */
  if (!(store_blob_stat(bd->st, NULL, &r->digest, NULL, NULL) == WH_OK &&
        store_blob_mount(bd->st, CLI_BUILD_REPO, &r->digest, NULL, NULL) == WH_OK) &&
      (rc = cli_blob_put_fd(bd->st, CLI_BUILD_REPO, &r->digest, fd, r->compressed_size, err)) != WH_OK)
    return wh_err_wrap(err, "store the layer");
  return cli_image_state_add_layer(&b->img, r->media_type, &r->digest, r->compressed_size, &r->diff_id, err);
}

static enum wh_code run_step(struct build *bd, struct bstate *b, const struct cli_df_inst *in, int *status,
                             char *tail_out, size_t tail_size, struct wh_err *err)
{
  struct cli_run_spec s;
  struct cli_view v;
  char *dir = NULL;
  int pfd[2] = {-1, -1};
  struct tail t = {.quiet = bd->a->quiet};
  pthread_t th;
  bool created = false, thread = false;
  enum wh_code rc;
  struct cli_layerw_result r;

  *status = 0;
  cli_run_spec_init(&s);
  cli_idmap_default(&s.idmap);
  cli_view_init(&v);
  if ((rc = view_at(bd, CLI_BUILD_REPO, &b->digest, &v, err)) != WH_OK)
    goto out;
  cli_container_sweep(bd->o->root);
  if ((rc = cli_container_create(bd->o->root, NULL, s.id, &dir, err)) != WH_OK)
    goto out;
  created = true;
  s.state_dir = dir;
  {
    struct cli_capset caps;
    cli_caps_default(&caps);
    s.caps = caps.bits;
  }
  s.net = CLI_NET_PRIVATE;
  if (bd->a->network && strcmp(bd->a->network, "host") == 0)
    s.net = CLI_NET_HOST;
  else if (bd->a->network && strcmp(bd->a->network, "none") == 0)
    s.net = CLI_NET_NONE;
  s.hostname = strdup("wharf-build");
  s.env = run_env(b);
  s.cwd = strdup(cfg_str(b, "WorkingDir") && *cfg_str(b, "WorkingDir") ? cfg_str(b, "WorkingDir") : "/");
  if (cfg_str(b, "User") && *cfg_str(b, "User"))
    s.user = strdup(cfg_str(b, "User"));
  if (!s.hostname || !s.env || !s.cwd || (rc = run_argv(b, in, &s.argv, err)) != WH_OK) {
    rc = rc != WH_OK ? rc : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    goto out;
  }
  if (!s.idmap.rootless) {
    char upper[PATH_MAX];
    snprintf(upper, sizeof(upper), "%s/upper", dir);
    if (chown(upper, s.idmap.uid_base, s.idmap.gid_base) < 0) {
      rc = wh_err_set(err, WH_EIO, errno, "chown %s", upper);
      goto out;
    }
  }
  if ((rc = cli_rootfs_prepare(bd->st, bd->o->root, CLI_BUILD_REPO, v.image, &v.config, &s, err)) != WH_OK)
    goto out;
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    rc = wh_err_set(err, WH_EIO, errno, "pipe");
    goto out;
  }
  t.fd = pfd[0];
  /* the thread must not take the SIGCHLDs the runtime waits for */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int pe = pthread_create(&th, NULL, tail_thread, &t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pe != 0) {
    rc = wh_err_set(err, WH_EIO, 0, "thread");
    goto out;
  }
  thread = true;
  s.out_fd = pfd[1];
  rc = cli_runtime_run(&s, NULL, NULL, status, err);
  close(pfd[1]), pfd[1] = -1;
  pthread_join(th, NULL);
  thread = false;
  tail_out[0] = '\0';
  for (size_t i = 0, used = 0; i < t.count; i++) {
    const char *l = t.lines[(t.next + TAIL_LINES - t.count + i) % TAIL_LINES];
    int w = snprintf(tail_out + used, tail_size - used, "  | %s\n", l);
    if (w < 0 || (size_t)w >= tail_size - used)
      break;
    used += (size_t)w;
  }
  if (rc != WH_OK || *status != 0)
    goto out;
  {
    char upper[PATH_MAX];
    snprintf(upper, sizeof(upper), "%s/upper", dir);
    WH_AUTOCLOSE int ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ufd < 0) {
      rc = wh_err_set(err, WH_EIO, errno, "open %s", upper);
      goto out;
    }
    if (s.copied_root) {
      rc = wh_err_set(err, WH_EUNSUPPORTED, 0, "RUN needs overlayfs (the step's changes are taken from its upper directory)");
      goto out;
    }
    clean_upper(&s, ufd);
    rc = add_layer_from(bd, b, ufd, CLI_LAYERW_OVERLAY_UPPER, &s.idmap, &r, err);
  }
out:
  if (thread) {
    if (pfd[1] >= 0)
      close(pfd[1]), pfd[1] = -1;
    pthread_join(th, NULL);
  }
  if (pfd[0] >= 0)
    close(pfd[0]);
  if (pfd[1] >= 0)
    close(pfd[1]);
  if (created)
    cli_container_remove(bd->o->root, s.id, true, NULL);
  cli_view_release(&v);
  cli_run_spec_release(&s);
  return rc;
}

/* ---- COPY / ADD ------------------------------------------------------------------ */

/* A context path: relative, cleaned, never above the context. */
static enum wh_code clean_src(const char *src, char *out, size_t size, struct wh_err *err)
{
  char buf[PATH_MAX];
  size_t n = 0;
  const char *p = src;

  if (strlen(src) >= sizeof(buf))
    return wh_err_set(err, WH_ETOOBIG, 0, "path too long");
  while (*p) {
    while (*p == '/')
      p++;
    const char *e = strchrnul(p, '/');
    size_t len = (size_t)(e - p);
    if (len == 0)
      break;
    if (len == 1 && p[0] == '.') {
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      if (n == 0)
        return wh_err_set(err, WH_EDENIED, 0, "\"%s\" is outside the build context", src);
      while (n > 0 && buf[n - 1] != '/')
        n--;
      if (n > 0)
        n--;
    } else {
      if (n)
        buf[n++] = '/';
      memcpy(buf + n, p, len);
      n += len;
    }
    p = e;
  }
  buf[n] = '\0';
  snprintf(out, size, "%s", n ? buf : ".");
  return WH_OK;
}

struct copy_ctx {
  struct build *bd;
  bool from_context; /* apply the ignore file */
  uid_t uid;
  gid_t gid;
  bool chown;
  mode_t chmod; /* 0: keep */
  uint64_t files;
};

static enum wh_code copy_tree(struct copy_ctx *cx, int sdir, const char *sname, const char *rel, int ddir,
                              const char *dname, int depth, struct wh_err *err);

static enum wh_code set_attrs(struct copy_ctx *cx, int ddir, const char *dname, const struct stat *sb, bool link,
                              struct wh_err *err)
{
  uid_t u = cx->chown ? cx->uid : 0;
  gid_t g = cx->chown ? cx->gid : 0;

  if (fchownat(ddir, dname, u, g, AT_SYMLINK_NOFOLLOW) < 0)
    return wh_err_set(err, WH_EIO, errno, "chown %s", dname);
  if (!link) {
    mode_t m = cx->chmod ? cx->chmod : (sb->st_mode & 07777);
    if (fchmodat(ddir, dname, m, 0) < 0)
      return wh_err_set(err, WH_EIO, errno, "chmod %s", dname);
  }
  struct timespec ts[2] = {sb->st_mtim, sb->st_mtim};
  utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW);
  return WH_OK;
}

/* Copies the bytes of in (from its start) to a new ddir/dname. */
static enum wh_code copy_file(int in, int ddir, const char *dname, struct wh_err *err)
{
  WH_AUTOCLOSE int out = -1;
  char buf[65536];
  ssize_t n;
  off_t off = 0;

  unlinkat(ddir, dname, 0);
  out = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return wh_err_set(err, WH_EIO, errno, "create %s", dname);
  while ((n = pread(in, buf, sizeof(buf), off)) > 0) {
    if (wh_write_all(out, buf, (size_t)n, err) != WH_OK)
      return err->code;
    off += n;
  }
  return n < 0 ? wh_err_set(err, WH_EIO, errno, "read %s", dname) : WH_OK;
}

/* Copies sdir/sname (never followed: it is a context entry) to ddir/dname. */
static enum wh_code copy_tree(struct copy_ctx *cx, int sdir, const char *sname, const char *rel, int ddir,
                              const char *dname, int depth, struct wh_err *err)
{
  struct stat sb;
  enum wh_code rc;

  if (depth > 256)
    return wh_err_set(err, WH_ETOOBIG, 0, "%s: too deep", rel);
  if (fstatat(sdir, sname, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    return wh_err_set(err, WH_EIO, errno, "%s", rel);
  if (cx->from_context && depth > 0 && cx->bd->ig.n && cli_ignore_match(&cx->bd->ig, rel))
    return WH_OK;
  if (S_ISDIR(sb.st_mode)) {
    if (mkdirat(ddir, dname, 0755) < 0 && errno != EEXIST)
      return wh_err_set(err, WH_EIO, errno, "mkdir %s", dname);
    WH_AUTOCLOSEDIR DIR *d = wh_opendir_at(sdir, sname);
    WH_AUTOCLOSE int nd = openat(ddir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct dirent *e;
    if (!d || nd < 0)
      return wh_err_set(err, WH_EIO, errno, "%s", rel);
    while ((e = readdir(d))) {
      char sub[PATH_MAX];
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      snprintf(sub, sizeof(sub), "%s%s%s", strcmp(rel, ".") ? rel : "", strcmp(rel, ".") ? "/" : "", e->d_name);
      if ((rc = copy_tree(cx, dirfd(d), e->d_name, sub, nd, e->d_name, depth + 1, err)) != WH_OK)
        return rc;
    }
    return set_attrs(cx, ddir, dname, &sb, false, err);
  }
  if (S_ISLNK(sb.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(sdir, sname, target, sizeof(target) - 1);
    if (n < 0)
      return wh_err_set(err, WH_EIO, errno, "readlink %s", rel);
    target[n] = '\0';
    unlinkat(ddir, dname, 0);
    if (symlinkat(target, ddir, dname) < 0)
      return wh_err_set(err, WH_EIO, errno, "symlink %s", dname);
    return set_attrs(cx, ddir, dname, &sb, true, err);
  }
  if (!S_ISREG(sb.st_mode))
    return WH_OK; /* sockets, devices, fifos of a context are not copied */
  cx->files++;
  WH_AUTOCLOSE int in = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return wh_err_set(err, WH_EIO, errno, "open %s", rel);
  if ((rc = copy_file(in, ddir, dname, err)) != WH_OK)
    return rc;
  return set_attrs(cx, ddir, dname, &sb, false, err);
}

/* mkdir -p of dest (absolute, cleaned) below the staging root; returns the
 * fd of its parent directory and its last name in *base. */
static int stage_parent(int stage, const char *dest, char *base, size_t base_size, bool dir, struct wh_err *err)
{
  char buf[PATH_MAX];
  char *slash;

  snprintf(buf, sizeof(buf), "%s", dest[0] == '/' ? dest + 1 : dest);
  size_t n = strlen(buf);
  while (n && buf[n - 1] == '/')
    buf[--n] = '\0';
  if (dir) {
    if (n && wh_mkdir_p_at(stage, buf, 0755, err) != WH_OK)
      return -1;
    snprintf(base, base_size, ".");
    return n ? openat(stage, buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
             : fcntl(stage, F_DUPFD_CLOEXEC, 0);
  }
  slash = strrchr(buf, '/');
  snprintf(base, base_size, "%s", slash ? slash + 1 : buf);
  if (!slash)
    return fcntl(stage, F_DUPFD_CLOEXEC, 0);
  *slash = '\0';
  if (wh_mkdir_p_at(stage, buf, 0755, err) != WH_OK)
    return -1;
  return openat(stage, buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool has_glob(const char *s)
{
  return strpbrk(s, "*?[") != NULL;
}

/* Flattens the image of a stage or an image (COPY --from) into dir. */
static enum wh_code flatten(struct build *bd, const char *from, int dirfd, struct wh_err *err)
{
  struct bstate src = {0};
  struct cli_view v;
  enum wh_code rc;

  cli_df_env_init(&src.args);
  cli_view_init(&v);
  if ((rc = from_image(bd, from, &src, err)) == WH_OK &&
      (rc = view_at(bd, CLI_BUILD_REPO, &src.digest, &v, err)) == WH_OK) {
    for (size_t i = 0; rc == WH_OK && i < v.image->n_layers; i++) {
      WH_AUTOCLOSE int fd = -1;
      struct cli_extract_opts o;
      if ((rc = store_blob_open(bd->st, CLI_BUILD_REPO, &v.image->layers[i].digest, &fd, NULL, err)) != WH_OK)
        break;
      cli_extract_opts_init(&o);
      o.media_type = v.image->layers[i].media_type;
      o.flags = CLI_EXTRACT_NO_DEVICES;
      rc = cli_extract_layer(fd, dirfd, &o, NULL, err);
    }
  }
  cli_view_release(&v);
  cli_image_state_release(&src.img);
  cli_df_env_release(&src.args);
  return rc;
}

static bool is_archive(int fd)
{
  unsigned char m[512];
  ssize_t n = pread(fd, m, sizeof(m), 0);

  if (n >= 4 && ((m[0] == 0x1f && m[1] == 0x8b) || (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) ||
                 (m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') || (m[0] == 0xfd && m[1] == '7' && m[2] == 'z')))
    return true;
  return n >= 262 && memcmp(m + 257, "ustar", 5) == 0;
}

/* ADD of a local archive: unpacked (confined) into ddir. */
static enum wh_code unpack(int fd, int ddir, struct wh_err *err)
{
  struct cli_extract_opts o;

  if (lseek(fd, 0, SEEK_SET) < 0)
    return wh_err_set(err, WH_EIO, errno, "seek");
  cli_extract_opts_init(&o);
  o.flags = CLI_EXTRACT_NO_DEVICES;
  o.owner = CLI_EXTRACT_OWNER_TRY;
  return cli_extract_layer(fd, ddir, &o, NULL, err);
}

static enum wh_code copy_step(struct build *bd, struct bstate *b, const struct cli_df_inst *in, char key[67],
                              bool *cached, struct wh_err *err)
{
  bool add = in->kind == CLI_DF_ADD;
  const char *from = cli_df_inst_flag(in, "from");
  const char *chown_s = cli_df_inst_flag(in, "chown");
  const char *chmod_s = cli_df_inst_flag(in, "chmod");
  struct copy_ctx cx = {.bd = bd, .from_context = from == NULL};
  char stage_name[PATH_MAX + 32], srcroot_name[PATH_MAX + 32];
  WH_AUTOCLOSE int stage = -1, srcroot = -1;
  char *dest = NULL, *words = NULL;
  enum wh_code rc = WH_OK;
  struct cli_layerw_result r;

  *cached = false;
  if (in->nargs < 2)
    return wh_err_set(err, WH_EINVALID, 0, "%s needs a source and a destination", cli_df_kind_name(in->kind));
  /* the destination: expanded, relative to WORKDIR */
  char *d0 = NULL;
  if ((rc = expand1(bd, b, in->args[in->nargs - 1], &d0, err)) != WH_OK)
    return rc;
  const char *wd = cfg_str(b, "WorkingDir");
  bool dest_dir = d0[strlen(d0) - 1] == '/' || in->nargs > 2;
  if (d0[0] == '/')
    dest = d0;
  else {
    if (asprintf(&dest, "%s/%s", wd && *wd ? wd : "", d0) < 0)
      dest = NULL;
    free(d0);
    if (!dest)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  if (chmod_s) {
    char *end;
    long m = strtol(chmod_s, &end, 8);
    if (*end || m <= 0 || m > 07777) {
      free(dest);
      return wh_err_set(err, WH_EINVALID, 0, "--chmod \"%s\": an octal mode", chmod_s);
    }
    cx.chmod = (mode_t)m;
  }
  if (chown_s) {
    char *c2 = NULL;
    if ((rc = expand1(bd, b, chown_s, &c2, err)) != WH_OK) {
      free(dest);
      return rc;
    }
    char *colon = strchr(c2, ':'), *end;
    cx.uid = (uid_t)strtoul(c2, &end, 10);
    if (end == c2 || (*end && *end != ':')) {
      /* names: looked up in the image's passwd is not supported; ids only */
      rc = wh_err_set(err, WH_EUNSUPPORTED, 0, "--chown \"%s\": give numeric ids (uid[:gid])", c2);
      free(c2), free(dest);
      return rc;
    }
    cx.gid = colon ? (gid_t)strtoul(colon + 1, NULL, 10) : (gid_t)cx.uid;
    cx.chown = true;
    free(c2);
  }
  /* staging directory */
  snprintf(stage_name, sizeof(stage_name), "%s/stage-XXXXXX", bd->tmpdir);
  snprintf(srcroot_name, sizeof(srcroot_name), "%s/src-XXXXXX", bd->tmpdir);
  if (!mkdtemp(stage_name) || (stage = open(stage_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    free(dest);
    return wh_err_set(err, WH_EIO, errno, "staging directory");
  }
  if (from) {
    char *f2 = NULL;
    if ((rc = expand1(bd, b, from, &f2, err)) == WH_OK) {
      if (!mkdtemp(srcroot_name) || (srcroot = open(srcroot_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = wh_err_set(err, WH_EIO, errno, "source directory");
      else
        rc = flatten(bd, f2, srcroot, err);
    }
    free(f2);
  } else {
    srcroot = fcntl(bd->ctxfd, F_DUPFD_CLOEXEC, 0);
    srcroot_name[0] = '\0';
  }
  size_t wlen = 0;
  for (size_t i = 0; rc == WH_OK && i + 1 < in->nargs; i++) {
    char *src = NULL, clean[PATH_MAX], base[NAME_MAX + 1];
    if (in->arg_heredoc && in->arg_heredoc[i] >= 0) {
      /* COPY <<EOF /dst: the heredoc's text is the file */
      const struct cli_df_heredoc *h = &in->heredocs[in->arg_heredoc[i]];
      char *text = cli_df_heredoc_text(h);
      int pd = text ? stage_parent(stage, dest, base, sizeof(base), dest_dir, err) : -1;
      if (pd >= 0) {
        const char *nm = dest_dir ? h->name : base;
        int f = openat(pd, nm, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, cx.chmod ? cx.chmod : 0644);
        if (f < 0 || wh_write_all(f, text, strlen(text), err) != WH_OK)
          rc = f < 0 ? wh_err_set(err, WH_EIO, errno, "heredoc") : err->code;
        if (f >= 0) {
          fchown(f, cx.chown ? cx.uid : 0, cx.chown ? cx.gid : 0);
          close(f);
        }
        close(pd);
      } else
        rc = text ? err->code : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
      free(text);
      continue;
    }
    if ((rc = expand1(bd, b, in->args[i], &src, err)) != WH_OK)
      break;
    if (add && (strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0)) {
      rc = wh_err_set(err, WH_EUNSUPPORTED, 0, "ADD %s: URLs are not supported (use RUN with a download)", src);
      free(src);
      break;
    }
    if ((rc = clean_src(src, clean, sizeof(clean), err)) != WH_OK) {
      free(src);
      break;
    }
    free(src);
    /* the words of the key: what was asked */
    words = realloc(words, wlen + strlen(clean) + 2);
    if (words) {
      memcpy(words + wlen, clean, strlen(clean) + 1);
      wlen += strlen(clean) + 1;
      words[wlen - 1] = ' ';
      words[wlen] = '\0';
    }
    /* a glob: matched in the last component */
    char dirpart[PATH_MAX], *slash = strrchr(clean, '/');
    const char *pat = slash ? slash + 1 : clean;
    snprintf(dirpart, sizeof(dirpart), "%.*s", slash ? (int)(slash - clean) : 1, slash ? clean : ".");
    long pdir = wh_openat2(srcroot, dirpart, O_RDONLY | O_DIRECTORY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (pdir < 0) {
      rc = wh_err_set(err, WH_ENOTFOUND, errno, "%s: \"%s\" not found%s", cli_df_kind_name(in->kind), clean,
                      from ? "" : " in the build context");
      break;
    }
    WH_AUTOCLOSEDIR DIR *dd = fdopendir((int)pdir);
    struct dirent *e;
    int matched = 0;
    while (rc == WH_OK && dd && (e = readdir(dd))) {
      char rel[PATH_MAX + NAME_MAX + 2];
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      if (strcmp(pat, ".") == 0 ? false : has_glob(pat) ? fnmatch(pat, e->d_name, FNM_PERIOD) != 0 : strcmp(pat, e->d_name) != 0)
        continue;
      snprintf(rel, sizeof(rel), "%s%s%s", strcmp(dirpart, ".") ? dirpart : "", strcmp(dirpart, ".") ? "/" : "",
               e->d_name);
      if (!from && bd->ig.n && cli_ignore_match(&bd->ig, rel))
        continue;
      matched++;
      struct stat sb;
      /* the source itself may be a symlink inside the context: followed, inside it */
      long sfd = wh_openat2(srcroot, rel, O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (sfd < 0 || fstat((int)sfd, &sb) < 0) {
        rc = wh_err_set(err, WH_ENOTFOUND, errno, "%s: \"%s\"", cli_df_kind_name(in->kind), rel);
        if (sfd >= 0)
          close((int)sfd);
        break;
      }
      bool isdir = S_ISDIR(sb.st_mode);
      int pd = stage_parent(stage, dest, base, sizeof(base), dest_dir || isdir || has_glob(pat), err);
      if (pd < 0) {
        rc = err->code ? err->code : wh_err_set(err, WH_EIO, errno, "stage %s", dest);
        close((int)sfd);
        break;
      }
      const char *dn = (dest_dir || has_glob(pat)) && !isdir ? e->d_name : base;
      char proc[64];
      snprintf(proc, sizeof(proc), "/proc/self/fd/%ld", sfd);
      /* everything is read through the fd resolved inside the root */
      WH_AUTOCLOSE int real = open(proc, (isdir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
      if (real < 0)
        rc = wh_err_set(err, WH_EIO, errno, "%s: \"%s\"", cli_df_kind_name(in->kind), rel);
      else if (isdir)
        rc = copy_tree(&cx, real, ".", rel, pd, base, 0, err); /* a directory: its contents go into dest */
      else if (!S_ISREG(sb.st_mode))
        rc = wh_err_set(err, WH_EINVALID, 0, "%s: \"%s\" is not a regular file", cli_df_kind_name(in->kind), rel);
      else if (add && is_archive(real)) {
        WH_AUTOCLOSE int td = strcmp(base, ".") == 0 ? fcntl(pd, F_DUPFD_CLOEXEC, 0) : -1;
        if (td < 0) {
          mkdirat(pd, base, 0755);
          td = openat(pd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        rc = td < 0 ? wh_err_set(err, WH_EIO, errno, "ADD %s", rel) : unpack(real, td, err);
      } else {
        cx.files++;
        if ((rc = copy_file(real, pd, dn, err)) == WH_OK)
          rc = set_attrs(&cx, pd, dn, &sb, false, err);
      }
      close(pd);
      close((int)sfd);
    }
    if (rc == WH_OK && matched == 0)
      rc = wh_err_set(err, WH_ENOTFOUND, 0, "%s: no file matches \"%s\"%s", cli_df_kind_name(in->kind), clean,
                      from ? "" : " in the build context");
  }
  if (rc == WH_OK) {
    /* the key holds the content: an uncompressed tar of the staging tree */
    struct cli_layerw_opts lo;
    WH_AUTOCLOSE int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cli_layerw_opts_init(&lo);
    lo.compression = CLI_LAYERW_NONE;
    if (getenv("SOURCE_DATE_EPOCH"))
      lo.source_date_epoch = cli_build_time();
    char extra[PATH_MAX + 200];
    if ((rc = cli_layerw_from_dir(stage, &lo, nul, &r, err)) == WH_OK) {
      snprintf(extra, sizeof(extra), "%s|%s|%s|%s|%s", r.diff_id.str, dest, words ? words : "",
               chown_s ? chown_s : "", chmod_s ? chmod_s : "");
      step_key(b, in->original, extra, key);
      if (cache_get(bd, key, b))
        *cached = true;
      else
        rc = add_layer_from(bd, b, stage, CLI_LAYERW_PLAIN, NULL, &r, err);
    }
  }
  free(words);
  free(dest);
  cli_extract_rmtree_at(AT_FDCWD, stage_name, NULL);
  if (srcroot_name[0])
    cli_extract_rmtree_at(AT_FDCWD, srcroot_name, NULL);
  return rc;
}

/* ---- the steps ------------------------------------------------------------------ */

/* The text a step shows and records: the instruction as written. */
static const char *shown(const struct cli_df_inst *in)
{
  return in->original ? in->original : cli_df_kind_name(in->kind);
}

static void fail_step(struct build *bd, const struct bstate *b, const struct cli_df_inst *in, const char *what,
                      const char *tail)
{
  char id[13];

  snprintf(id, sizeof(id), "%.12s", wh_digest_hex(&b->digest));
  fprintf(stderr, "wharf: build: %s:%u: step %zu/%zu: %s: %s\n", bd->fname, in->line, bd->step, bd->n_steps,
          shown(in), what);
  if (tail && *tail)
    fprintf(stderr, "%s", tail);
  fprintf(stderr, "wharf: build: the image of the last good step is %s (wharf run -it %s sh)\n", id, id);
}

/* Runs one instruction of a stage. */
static enum wh_code step(struct build *bd, struct bstate *b, const struct cli_df_inst *in, struct wh_err *err)
{
  char key[67], tail[TAIL_LINES * 260 + 1] = "";
  bool cached = false;
  enum wh_code rc;
  struct timespec t0, t1;

  bd->step++;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  say(bd, "STEP %zu/%zu: %s\n", bd->step, bd->n_steps, shown(in));
  if (in->kind == CLI_DF_ARG)
    return arg_step(bd, b, in, err); /* scope only: no image of its own */
  if (in->kind == CLI_DF_COPY || in->kind == CLI_DF_ADD) {
    if ((rc = copy_step(bd, b, in, key, &cached, err)) != WH_OK) {
      fail_step(bd, b, in, err->msg, NULL);
      return rc;
    }
    if (!cached) {
      char hist[4096];
      snprintf(hist, sizeof(hist), "%s", shown(in));
      if ((rc = cli_image_state_history(&b->img, hist, false, err)) != WH_OK || (rc = commit(bd, b, key, err)) != WH_OK)
        return rc;
    }
  } else {
    /* RUN depends on its environment too (ARG values are not in the image) */
    char *extra = NULL;
    if (in->kind == CLI_DF_RUN) {
      char **env = run_env(b);
      size_t n = 1;
      for (char **e = env; e && *e; e++)
        n += strlen(*e) + 1;
      extra = calloc(1, n);
      for (char **e = env; extra && e && *e; e++)
        strcat(strcat(extra, *e), "\n");
      for (char **e = env; e && *e; e++)
        free(*e);
      free(env);
    }
    char what[64];
    snprintf(what, sizeof(what), "|%s|%s", cfg_str(b, "User") ? cfg_str(b, "User") : "",
             cfg_str(b, "WorkingDir") ? cfg_str(b, "WorkingDir") : "");
    char *full = NULL;
    if (asprintf(&full, "%s\n%s%s", in->original ? in->original : "", what, extra ? extra : "") < 0)
      full = NULL;
    free(extra);
    /* heredoc bodies are part of the instruction */
    for (size_t i = 0; full && i < in->nheredocs; i++) {
      char *more = NULL;
      if (asprintf(&more, "%s\n%.*s", full, (int)in->heredocs[i].len, in->heredocs[i].content) < 0)
        more = NULL;
      free(full);
      full = more;
    }
    if (!full)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    step_key(b, full, NULL, key);
    free(full);
    if (cache_get(bd, key, b)) {
      cached = true;
    } else if (in->kind == CLI_DF_RUN) {
      int status = 0;
      rc = run_step(bd, b, in, &status, tail, sizeof(tail), err);
      if (rc != WH_OK || status != 0) {
        char what2[WH_ERR_MSG_MAX + 64];
        if (rc != WH_OK)
          snprintf(what2, sizeof(what2), "%s", err->msg);
        else
          snprintf(what2, sizeof(what2), "the command exited with status %d", status);
        fail_step(bd, b, in, what2, tail);
        if (rc == WH_OK)
          rc = wh_err_set(err, WH_EINVALID, 0, "step %zu failed", bd->step);
        err->code = WH_EINVALID;
        return rc == WH_OK ? WH_EINVALID : rc;
      }
      if ((rc = cli_image_state_history(&b->img, shown(in), false, err)) != WH_OK ||
          (rc = commit(bd, b, key, err)) != WH_OK)
        return rc;
    } else {
      if ((rc = meta_step(bd, b, in, err)) != WH_OK) {
        fail_step(bd, b, in, err->msg, NULL);
        return rc;
      }
      if ((rc = cli_image_state_history(&b->img, shown(in), true, err)) != WH_OK ||
          (rc = commit(bd, b, key, err)) != WH_OK)
        return rc;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  say(bd, "--> %s%.12s (%.0f ms)\n", cached ? "cached " : "", wh_digest_hex(&b->digest),
      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  return WH_OK;
}

/* ONBUILD triggers of a base image run right after its FROM. */
static enum wh_code onbuild(struct build *bd, struct bstate *b, struct wh_err *err)
{
  json_t *ob = json_incref(json_object_get(cfg_obj(b), "OnBuild"));
  json_t *labels = json_object_get(cfg_obj(b), "Labels");
  const char *ol = json_string_value(json_object_get(labels, CLI_LABEL_ONBUILD));
  if (!ob && ol) /* an image whose Docker fields were dropped on the way */
    ob = json_loads(ol, 0, NULL);
  json_object_del(labels, CLI_LABEL_ONBUILD);
  size_t i;
  json_t *t;
  enum wh_code rc = WH_OK;

  if (!json_is_array(ob) || json_array_size(ob) == 0) {
    json_decref(ob);
    return WH_OK;
  }
  json_object_del(cfg_obj(b), "OnBuild"); /* triggers do not pass on */
  json_array_foreach(ob, i, t)
  {
    const char *expr = json_string_value(t);
    char *text = NULL;
    struct cli_df_file f;
    if (!expr || asprintf(&text, "FROM scratch\n%s\n", expr) < 0)
      continue;
    rc = cli_df_parse("ONBUILD", text, strlen(text), &f, err);
    free(text);
    if (rc != WH_OK)
      break;
    for (size_t k = 1; rc == WH_OK && k < f.ninsts; k++) {
      bd->n_steps++;
      rc = step(bd, b, &f.insts[k], err);
    }
    cli_df_file_release(&f);
    if (rc != WH_OK)
      break;
  }
  json_decref(ob);
  return rc;
}

static enum wh_code build_stage(struct build *bd, size_t si, struct wh_err *err)
{
  const struct cli_df_stage *sg = &bd->df.stages[si];
  const struct cli_df_inst *fi = &bd->df.insts[sg->from];
  struct bstate b = {0};
  char *base = NULL;
  enum wh_code rc;

  cli_df_env_init(&b.args);
  bd->step++;
  say(bd, "STEP %zu/%zu: %s\n", bd->step, bd->n_steps, shown(fi));
  /* FROM expands with the global ARGs only */
  if ((rc = cli_df_expand(sg->base, &bd->global, bd->df.escape, 0, &base, err)) != WH_OK ||
      (rc = from_image(bd, base, &b, err)) != WH_OK) {
    fprintf(stderr, "wharf: build: %s:%u: %s: %s\n", bd->fname, fi->line, shown(fi), err->msg);
    goto out;
  }
  say(bd, "--> %.12s\n", wh_digest_hex(&b.digest));
  if ((rc = onbuild(bd, &b, err)) != WH_OK)
    goto out;
  for (size_t k = 1; k <= sg->count; k++)
    if ((rc = step(bd, &b, &bd->df.insts[sg->from + k], err)) != WH_OK)
      goto out;
  bd->stages[si].built = true;
  bd->stages[si].digest = b.digest;
out:
  free(base);
  cli_image_state_release(&b.img);
  cli_df_env_release(&b.args);
  return rc;
}

/* Marks the stages target needs (FROM <stage>, COPY --from=<stage>). */
static void need(struct build *bd, size_t si, bool *needed, int depth)
{
  const struct cli_df_stage *sg = &bd->df.stages[si];

  if (needed[si] || depth > 64)
    return;
  needed[si] = true;
  for (size_t k = 0; k <= sg->count; k++) {
    const struct cli_df_inst *in = &bd->df.insts[sg->from + k];
    const char *ref = k == 0 ? sg->base : cli_df_inst_flag(in, "from");
    if (!ref)
      continue;
    for (size_t j = 0; j < si; j++) {
      const struct cli_df_stage *o = &bd->df.stages[j];
      char num[24];
      snprintf(num, sizeof(num), "%zu", j);
      if ((o->name && strcasecmp(o->name, ref) == 0) || strcmp(ref, num) == 0)
        need(bd, j, needed, depth + 1);
    }
  }
}

/* Checks, before any step runs, the COPY/ADD sources that need no
 * variable: inside the context and present. */
static enum wh_code precheck(struct build *bd, struct wh_err *err)
{
  for (size_t i = 0; i < bd->df.ninsts; i++) {
    const struct cli_df_inst *in = &bd->df.insts[i];
    if ((in->kind != CLI_DF_COPY && in->kind != CLI_DF_ADD) || cli_df_inst_flag(in, "from"))
      continue;
    for (size_t k = 0; k + 1 < in->nargs; k++) {
      char clean[PATH_MAX];
      const char *src = in->args[k];
      if ((in->arg_heredoc && in->arg_heredoc[k] >= 0) || strchr(src, '$') || strstr(src, "://"))
        continue;
      if (clean_src(src, clean, sizeof(clean), err) != WH_OK)
        return wh_err_wrap(err, "%s:%u", bd->fname, in->line);
      if (has_glob(clean))
        continue;
      long fd = wh_openat2(bd->ctxfd, clean, O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (fd < 0)
        return wh_err_set(err, WH_ENOTFOUND, 0, "%s:%u: %s: \"%s\" not found in the build context", bd->fname,
                          in->line, cli_df_kind_name(in->kind), src);
      close((int)fd);
    }
  }
  return WH_OK;
}

static enum wh_code read_file_at(int dirfd, const char *name, struct wh_buf *b, struct wh_err *err)
{
  return wh_read_file_at(dirfd, name, b, err);
}

static enum wh_code load_files(struct build *bd, struct wh_err *err)
{
  static const char *const names[] = {"Wharffile", "Dockerfile", "Containerfile"};
  struct wh_buf text, ign;
  enum wh_code rc = WH_ENOTFOUND;

  wh_buf_init(&text, CLI_DF_FILE_MAX);
  wh_buf_init(&ign, 1u << 20);
  if (bd->a->file) {
    const char *slash = strrchr(bd->a->file, '/');
    snprintf(bd->fname, sizeof(bd->fname), "%s", slash ? slash + 1 : bd->a->file);
    rc = read_file_at(AT_FDCWD, bd->a->file, &text, err);
  } else {
    for (size_t i = 0; rc == WH_ENOTFOUND && i < WH_ARRAY_LEN(names); i++) {
      wh_buf_release(&text);
      wh_buf_init(&text, CLI_DF_FILE_MAX);
      snprintf(bd->fname, sizeof(bd->fname), "%s", names[i]);
      rc = read_file_at(bd->ctxfd, names[i], &text, err);
      if (rc == WH_EIO && err->sys_errno == ENOENT)
        rc = WH_ENOTFOUND;
    }
    if (rc == WH_ENOTFOUND)
      wh_err_set(err, WH_ENOTFOUND, 0, "no Wharffile, Dockerfile or Containerfile in the context (use -f)");
  }
  if (rc == WH_OK)
    rc = cli_df_parse(bd->fname, (const char *)text.data, text.len, &bd->df, err);
  if (rc == WH_OK) {
    enum wh_code r2 = read_file_at(bd->ctxfd, ".wharfignore", &ign, NULL);
    if (r2 != WH_OK) {
      wh_buf_release(&ign);
      wh_buf_init(&ign, 1u << 20);
      r2 = read_file_at(bd->ctxfd, ".dockerignore", &ign, NULL);
    }
    rc = cli_ignore_parse(r2 == WH_OK ? (const char *)ign.data : "", r2 == WH_OK ? ign.len : 0, &bd->ig, err);
  }
  wh_buf_release(&text);
  wh_buf_release(&ign);
  return rc;
}

static enum wh_code build(struct build *bd, struct wh_err *err)
{
  size_t target;
  bool *needed = NULL;
  enum wh_code rc;

  if ((rc = load_files(bd, err)) != WH_OK || (rc = precheck(bd, err)) != WH_OK)
    return rc;
  /* global ARGs (before the first FROM) */
  for (size_t i = 0; i < bd->df.nmeta; i++) {
    const struct cli_df_inst *in = &bd->df.insts[i];
    for (size_t k = 0; k < in->npairs; k++) {
      const char *given = cli_df_env_get(&bd->bargs, in->pairs[k].key);
      char *def = NULL;
      if (!given && in->pairs[k].value &&
          cli_df_expand(in->pairs[k].value, &bd->global, bd->df.escape, 0, &def, err) != WH_OK)
        return wh_err_wrap(err, "%s:%u", bd->fname, in->line);
      if (given || def)
        cli_df_env_set(&bd->global, in->pairs[k].key, given ? given : def);
      free(def);
    }
  }
  target = bd->df.nstages - 1;
  if (bd->a->target) {
    target = SIZE_MAX;
    for (size_t i = 0; i < bd->df.nstages; i++)
      if (bd->df.stages[i].name && strcasecmp(bd->df.stages[i].name, bd->a->target) == 0)
        target = i;
    if (target == SIZE_MAX)
      return wh_err_set(err, WH_ENOTFOUND, 0, "no stage named \"%s\"", bd->a->target);
  }
  if (!(needed = calloc(bd->df.nstages, sizeof(*needed))) ||
      !(bd->stages = calloc(bd->df.nstages, sizeof(*bd->stages))))
    return free(needed), wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  need(bd, target, needed, 0);
  for (size_t i = 0; i <= target; i++)
    if (needed[i])
      bd->n_steps += bd->df.stages[i].count + 1;
  for (size_t i = 0; i <= target && (rc = WH_OK) == WH_OK; i++)
    if (needed[i] && (rc = build_stage(bd, i, err)) != WH_OK)
      break;
  free(needed);
  return rc;
}

/* ---- the verb ---------------------------------------------------------------------- */

static const struct option build_opts[] = {
    {"file", required_argument, NULL, 'f'},      {"tag", required_argument, NULL, 't'},
    {"build-arg", required_argument, NULL, 'a'}, {"target", required_argument, NULL, 'T'},
    {"no-cache", no_argument, NULL, 'n'},        {"pull", no_argument, NULL, 'p'},
    {"platform", required_argument, NULL, 'P'},  {"compression", required_argument, NULL, 'c'},
    {"network", required_argument, NULL, 'N'},   {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
};

static int parse(int argc, char **argv, struct build_args *a)
{
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+f:t:qh", build_opts, NULL)) != -1) {
    switch (c) {
    case 'f': a->file = optarg; break;
    case 't':
      if (a->n_tags == MAX_TAGS)
        return cli_usage("build", "too many -t");
      a->tags[a->n_tags++] = optarg;
      break;
    case 'a':
      if (a->n_bargs == MAX_BUILD_ARGS)
        return cli_usage("build", "too many --build-arg");
      a->bargs[a->n_bargs++] = optarg;
      break;
    case 'T': a->target = optarg; break;
    case 'n': a->no_cache = true; break;
    case 'p': a->pull = true; break;
    case 'P': a->platform = optarg; break;
    case 'N':
      if (strcmp(optarg, "private") && strcmp(optarg, "host") && strcmp(optarg, "none"))
        return cli_usage("build", "--network private, host or none");
      a->network = optarg;
      break;
    case 'q': a->quiet = true; break;
    case 'c':
      if (strcmp(optarg, "zstd") == 0)
        a->comp = CLI_LAYERW_ZSTD;
      else if (strcmp(optarg, "gzip") == 0)
        a->comp = CLI_LAYERW_GZIP;
      else
        return cli_usage("build", "--compression zstd or gzip");
      break;
    case 'h': cli_help("build"); return -1;
    default: return cli_usage("build", "bad option");
    }
  }
  if (argc - optind != 1)
    return cli_usage("build", "expected one CONTEXT directory");
  a->context = argv[optind];
  return 0;
}

static enum wh_code tag_result(struct build *bd, const struct wh_digest *d, struct wh_err *err)
{
  for (size_t i = 0; i < bd->a->n_tags; i++) {
    struct cli_ref ref = {0};
    enum wh_code rc = cli_ref_parse(bd->a->tags[i], 0, &ref, err);
    if (rc == WH_OK && ref.has_digest)
      rc = wh_err_set(err, WH_EINVALID, 0, "-t %s: a tag, not a digest", bd->a->tags[i]);
    if (rc == WH_OK)
      rc = cli_image_copy_local(bd->st, CLI_BUILD_REPO, d, ref.repo, ref.tag, err);
    cli_ref_release(&ref);
    if (rc != WH_OK)
      return wh_err_wrap(err, "tag %s", bd->a->tags[i]);
    say(bd, "tagged %s\n", bd->a->tags[i]);
  }
  return WH_OK;
}

int cli_cmd_build(const struct cli_opts *o, int argc, char **argv)
{
  struct build_args a = {0};
  struct build bd = {.o = o, .a = &a, .ctxfd = -1};
  struct wh_err err = {0};
  enum wh_code rc;
  int st = parse(argc, argv, &a);

  if (st != 0)
    return st < 0 ? 0 : st;
  a.quiet = a.quiet || o->quiet;
  cli_df_env_init(&bd.bargs);
  cli_df_env_init(&bd.global);
  for (size_t i = 0; i < a.n_bargs; i++) {
    const char *eq = strchr(a.bargs[i], '=');
    char *k = strndup(a.bargs[i], eq ? (size_t)(eq - a.bargs[i]) : strlen(a.bargs[i]));
    const char *v = eq ? eq + 1 : getenv(k ? k : "");
    if (k && v)
      cli_df_env_set(&bd.bargs, k, v);
    free(k);
  }
  bd.ctxfd = open(a.context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (bd.ctxfd < 0) {
    wh_err_set(&err, WH_ENOTFOUND, errno, "build context \"%s\"", a.context);
    rc = err.code;
    goto out;
  }
  if ((rc = cli_store_open(o, &bd.st, &err)) != WH_OK)
    goto out;
  snprintf(bd.tmpdir, sizeof(bd.tmpdir), "%s/build-tmp", o->root);
  if (mkdir(bd.tmpdir, 0700) < 0 && errno != EEXIST) {
    rc = wh_err_set(&err, WH_EIO, errno, "mkdir %s", bd.tmpdir);
    goto out;
  }
  key_salt = a.comp == CLI_LAYERW_GZIP ? "gzip" : "zstd";
  rc = build(&bd, &err);
  if (rc == WH_OK) {
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < bd.df.nstages; i++)
      if (bd.stages[i].built)
        last = i;
    if (a.target)
      for (size_t i = 0; i < bd.df.nstages; i++)
        if (bd.df.stages[i].name && strcasecmp(bd.df.stages[i].name, a.target) == 0)
          last = i;
    if (last == SIZE_MAX || !bd.stages[last].built)
      rc = wh_err_set(&err, WH_EINTERNAL, 0, "nothing was built");
    else if ((rc = tag_result(&bd, &bd.stages[last].digest, &err)) == WH_OK)
      printf("%s\n", bd.stages[last].digest.str);
  }
out:
  if (bd.ctxfd >= 0)
    close(bd.ctxfd);
  store_free(bd.st);
  cli_df_file_release(&bd.df);
  cli_ignore_release(&bd.ig);
  cli_df_env_release(&bd.bargs);
  cli_df_env_release(&bd.global);
  free(bd.stages);
  if (rc == WH_OK)
    return 0;
  /* a failed step already said what failed */
  if (err.code == WH_EINVALID && strncmp(err.msg, "step ", 5) == 0)
    return 1;
  return cli_fail("build", a.context, &err);
}
