/* client/remote.c - manifests from and to a registry, verified.
 *
 * Invariants: a manifest body is never read past WH_MANIFEST_MAX bytes;
 * its digest is computed from the exact bytes received and compared with
 * what was asked for (a digest reference or a descriptor) and with the
 * Docker-Content-Digest header; it is parsed by common/'s strict parser
 * (which refuses a body that is both manifest and index) before anything
 * uses it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

void cli_scope(const char *path, bool push, char *out, size_t size)
{
  snprintf(out, size, "repository:%s:%s", path, push ? "pull,push" : "pull");
}

void cli_remote_manifest_release(struct cli_remote_manifest *m)
{
  if (m == NULL)
    return;
  wh_buf_release(&m->body);
  if (m->has_parsed)
    wh_manifest_release(&m->parsed);
  m->has_parsed = false;
}

/* The header names the same bytes (in its own algorithm). */
static enum wh_code check_header_digest(const struct cli_req *q, const struct wh_digest *have,
                                        struct wh_err *err)
{
  struct wh_digest hd, again;

  if (q->h.docker_digest[0] == '\0')
    return WH_OK;
  if (wh_digest_parsez(q->h.docker_digest, &hd, NULL) != WH_OK)
    return wh_err_set(err, WH_EINVALID, 0, "registry sent a bad Docker-Content-Digest \"%.80s\"",
                      q->h.docker_digest);
  if (hd.alg == have->alg)
    again = *have;
  else
    wh_digest_buf(hd.alg, q->resp.data ? q->resp.data : "", q->resp.len, &again);
  if (!wh_digest_eq(&hd, &again))
    return wh_err_set(err, WH_EDIGEST, 0, "manifest: digest mismatch (the body is %s, the registry says %s)",
                      again.str, hd.str);
  return WH_OK;
}

static enum wh_code verify(const struct cli_req *q, const struct wh_digest *expected, int64_t expected_size,
                           struct cli_remote_manifest *m, struct wh_err *err)
{
  const char *body = q->resp.data ? q->resp.data : "";
  enum wh_code rc;

  if (expected_size >= 0 && q->resp.len != (uint64_t)expected_size)
    return wh_err_set(err, WH_EDIGEST, 0, "manifest %s: size mismatch (%zu bytes, the index says %lld)",
                      expected ? expected->str : "", q->resp.len, (long long)expected_size);
  wh_digest_buf(expected ? expected->alg : WH_DIGEST_SHA256, body, q->resp.len, &m->digest);
  if (expected && !wh_digest_eq(expected, &m->digest))
    return wh_err_set(err, WH_EDIGEST, 0, "manifest %s: digest mismatch (received %s)", expected->str,
                      m->digest.str);
  if ((rc = check_header_digest(q, &m->digest, err)) != WH_OK)
    return rc;
  rc = wh_manifest_parse(body, q->resp.len, q->h.content_type, &m->parsed, err);
  if (rc != WH_OK)
    return (wh_err_wrap(err, "manifest %s", m->digest.str), rc);
  m->has_parsed = true;
  return WH_OK;
}

enum wh_code cli_remote_manifest_get(struct cli_registry *r, const char *path, const char *reference,
                                     const struct wh_digest *expected, int64_t expected_size,
                                     struct cli_remote_manifest *out, struct wh_err *err)
{
  struct cli_req q;
  struct cli_remote_manifest m = {0};
  char scope[WH_NAME_MAX + 32];
  enum wh_code rc;

  cli_req_init(&q, "GET");
  cli_scope(path, false, scope, sizeof(scope));
  q.accept = CLI_ACCEPT_MANIFESTS;
  q.max_body = WH_MANIFEST_MAX;
  if ((rc = cli_req_set_url(&q, err, "/v2/%s/manifests/%s", path, reference)) != WH_OK ||
      (rc = cli_req_set_scope(&q, scope, err)) != WH_OK)
    goto out;
  rc = cli_registry_do(r, &q, err);
  if (rc == WH_ETOOBIG)
    rc = wh_err_set(err, WH_ETOOBIG, 0, "manifest %s: over the %u byte limit", reference, WH_MANIFEST_MAX);
  if (rc != WH_OK)
    goto out;
  if (q.status != 200) {
    rc = cli_req_status_err(&q, "manifest", err);
    goto out;
  }
  if ((rc = verify(&q, expected, expected_size, &m, err)) != WH_OK) {
    cli_remote_manifest_release(&m);
    goto out;
  }
  m.body = q.resp;
  wh_buf_init(&q.resp, 0); /* moved into m */
  *out = m;
out:
  cli_req_release(&q);
  return rc;
}

enum wh_code cli_remote_manifest_put(struct cli_registry *r, const char *path, const char *reference,
                                     const void *body, size_t len, const char *media_type,
                                     const struct wh_digest *digest, struct wh_err *err)
{
  struct cli_req q;
  char scope[WH_NAME_MAX + 32];
  struct wh_digest said;
  enum wh_code rc;

  cli_req_init(&q, "PUT");
  cli_scope(path, true, scope, sizeof(scope));
  q.content_type = media_type;
  q.body = body;
  q.body_len = len;
  if ((rc = cli_req_set_url(&q, err, "/v2/%s/manifests/%s", path, reference)) != WH_OK ||
      (rc = cli_req_set_scope(&q, scope, err)) != WH_OK || (rc = cli_registry_do(r, &q, err)) != WH_OK)
    goto out;
  if (q.status != 201 && q.status != 200) {
    rc = cli_req_status_err(&q, "manifest", err);
    goto out;
  }
  if (q.h.docker_digest[0] && wh_digest_parsez(q.h.docker_digest, &said, NULL) == WH_OK &&
      said.alg == digest->alg && !wh_digest_eq(&said, digest))
    rc = wh_err_set(err, WH_EDIGEST, 0, "manifest %s: the registry stored %s", digest->str, said.str);
out:
  cli_req_release(&q);
  return rc;
}

enum wh_code cli_remote_blob_get(struct cli_registry *r, const char *path, const struct wh_descriptor *d,
                                 struct wh_buf *b, struct wh_err *err)
{
  struct cli_req q;
  char scope[WH_NAME_MAX + 32];
  struct wh_digest got;
  enum wh_code rc;

  if (d->size > b->max)
    return wh_err_set(err, WH_ETOOBIG, 0, "blob %s: %llu bytes is over %zu", d->digest.str,
                      (unsigned long long)d->size, b->max);
  cli_req_init(&q, "GET");
  cli_scope(path, false, scope, sizeof(scope));
  q.max_body = (size_t)d->size;
  if ((rc = cli_req_set_url(&q, err, "/v2/%s/blobs/%s", path, d->digest.str)) != WH_OK ||
      (rc = cli_req_set_scope(&q, scope, err)) != WH_OK)
    goto out;
  rc = cli_registry_do(r, &q, err);
  if (rc == WH_ETOOBIG)
    rc = wh_err_set(err, WH_EDIGEST, 0, "blob %s: size mismatch (more than %llu bytes)", d->digest.str,
                    (unsigned long long)d->size);
  if (rc != WH_OK)
    goto out;
  if (q.status != 200) {
    rc = cli_req_status_err(&q, "blob", err);
    goto out;
  }
  wh_digest_buf(d->digest.alg, q.resp.data ? q.resp.data : "", q.resp.len, &got);
  if (q.resp.len != d->size || !wh_digest_eq(&got, &d->digest)) {
    rc = wh_err_set(err, WH_EDIGEST, 0, "blob %s: digest mismatch", d->digest.str);
    goto out;
  }
  rc = wh_buf_append(b, q.resp.data ? q.resp.data : "", q.resp.len);
  if (rc != WH_OK)
    wh_err_set(err, rc, 0, "blob %s: out of memory", d->digest.str);
out:
  cli_req_release(&q);
  return rc;
}
