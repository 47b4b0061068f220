/* common/manifest.c - OCI / Docker media types and the manifest parser.
 *
 * Invariants: the body size is checked before jansson sees a byte; the
 * JSON is parsed with duplicate keys rejected and jansson's depth limit;
 * at most WH_MANIFEST_MAX_DESCRIPTORS descriptors are allocated per list;
 * every string kept in a parsed manifest has been type-checked, and media
 * types match the RFC 6838 shape (so they are safe as a Content-Type). A
 * struct wh_manifest is written to the caller only when the whole body is
 * valid; partial results are released here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/manifest.h"

static const char *const manifest_types[] = {WH_MT_OCI_MANIFEST, WH_MT_OCI_INDEX, WH_MT_DOCKER_MANIFEST,
                                             WH_MT_DOCKER_LIST};
static const char *const index_types[] = {WH_MT_OCI_INDEX, WH_MT_DOCKER_LIST};
static const char *const nondist_types[] = {WH_MT_OCI_LAYER_ND, WH_MT_OCI_LAYER_ND_GZIP,
                                            WH_MT_OCI_LAYER_ND_ZSTD, WH_MT_DOCKER_LAYER_FOREIGN};

static bool in_list(const char *mt, const char *const *list, size_t n)
{
  if (mt == NULL)
    return false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(mt, list[i]) == 0)
      return true;
  return false;
}

bool wh_media_type_is_manifest(const char *mt)
{
  return in_list(mt, manifest_types, WH_ARRAY_LEN(manifest_types));
}

bool wh_media_type_is_index(const char *mt)
{
  return in_list(mt, index_types, WH_ARRAY_LEN(index_types));
}

bool wh_media_type_is_nondistributable(const char *mt)
{
  return in_list(mt, nondist_types, WH_ARRAY_LEN(nondist_types));
}

static bool mt_first(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool mt_char(char c)
{
  return mt_first(c) || (c != '\0' && strchr("!#$&^_.+-", c) != NULL);
}

/* restricted-name := [A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}; returns its
 * length, 0 when invalid. */
static size_t restricted_name(const char *s)
{
  size_t i;

  if (!mt_first(s[0]))
    return 0;
  for (i = 1; mt_char(s[i]); i++)
    if (i >= 127)
      return 0;
  return i;
}

bool wh_media_type_valid(const char *mt)
{
  size_t n;

  if (mt == NULL)
    return false;
  n = restricted_name(mt);
  if (n == 0 || mt[n] != '/')
    return false;
  mt += n + 1;
  n = restricted_name(mt);
  return n > 0 && mt[n] == '\0';
}

const char *wh_manifest_effective_artifact_type(const struct wh_manifest *m)
{
  if (m->artifact_type)
    return m->artifact_type;
  if (m->kind == WH_MANIFEST_IMAGE)
    return m->config.media_type;
  return NULL;
}

/* ---- release --------------------------------------------------------- */

static void platform_release(struct wh_platform *p)
{
  free(p->os);
  free(p->architecture);
  free(p->variant);
  free(p->os_version);
  memset(p, 0, sizeof(*p));
}

void wh_descriptor_release(struct wh_descriptor *d)
{
  if (d == NULL)
    return;
  free(d->media_type);
  free(d->artifact_type);
  json_decref(d->annotations);
  platform_release(&d->platform);
  for (size_t i = 0; i < d->n_urls; i++)
    free(d->urls[i]);
  free(d->urls);
  memset(d, 0, sizeof(*d));
}

static void descriptors_free(struct wh_descriptor *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    wh_descriptor_release(&v[i]);
  free(v);
}

void wh_manifest_release(struct wh_manifest *m)
{
  if (m == NULL)
    return;
  free(m->media_type);
  free(m->artifact_type);
  wh_descriptor_release(&m->config);
  descriptors_free(m->layers, m->n_layers);
  descriptors_free(m->manifests, m->n_manifests);
  if (m->subject) {
    wh_descriptor_release(m->subject);
    free(m->subject);
  }
  json_decref(m->annotations);
  memset(m, 0, sizeof(*m));
}

/* ---- field helpers ---------------------------------------------------- */

/* Optional string field: absent -> *out NULL; present and not a string ->
 * WH_EINVALID; else a malloc'd copy. */
static enum wh_code opt_string(json_t *obj, const char *key, const char *what, char **out, struct wh_err *err)
{
  json_t *v = json_object_get(obj, key);

  *out = NULL;
  if (v == NULL)
    return WH_OK;
  if (!json_is_string(v))
    return wh_err_set(err, WH_EINVALID, 0, "%s: \"%s\" is not a string", what, key);
  *out = strndup(json_string_value(v), json_string_length(v));
  if (*out == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "%s: out of memory", what);
  return WH_OK;
}

/* Optional media type field: like opt_string, plus the RFC 6838 shape. */
static enum wh_code opt_media_type(json_t *obj, const char *key, const char *what, char **out,
                                   struct wh_err *err)
{
  enum wh_code rc = opt_string(obj, key, what, out, err);

  if (rc != WH_OK || *out == NULL)
    return rc;
  if (strlen(*out) != json_string_length(json_object_get(obj, key)) || !wh_media_type_valid(*out)) {
    free(*out);
    *out = NULL;
    return wh_err_set(err, WH_EINVALID, 0, "%s: invalid %s", what, key);
  }
  return WH_OK;
}

/* Optional annotations: an object whose values are all strings. */
static enum wh_code opt_annotations(json_t *obj, const char *what, json_t **out, struct wh_err *err)
{
  json_t *v = json_object_get(obj, "annotations");
  const char *key;
  json_t *val;

  *out = NULL;
  if (v == NULL)
    return WH_OK;
  if (!json_is_object(v))
    return wh_err_set(err, WH_EINVALID, 0, "%s: annotations is not an object", what);
  json_object_foreach(v, key, val)
  {
    if (!json_is_string(val))
      return wh_err_set(err, WH_EINVALID, 0, "%s: annotation \"%.64s\" is not a string", what, key);
  }
  *out = json_incref(v);
  return WH_OK;
}

static enum wh_code parse_urls(json_t *obj, struct wh_descriptor *d, const char *what, struct wh_err *err)
{
  json_t *v = json_object_get(obj, "urls");
  size_t n;

  if (v == NULL)
    return WH_OK;
  if (!json_is_array(v))
    return wh_err_set(err, WH_EINVALID, 0, "%s: urls is not an array", what);
  n = json_array_size(v);
  if (n > WH_MANIFEST_MAX_DESCRIPTORS)
    return wh_err_set(err, WH_ETOOBIG, 0, "%s: more than %d urls", what, WH_MANIFEST_MAX_DESCRIPTORS);
  if (n == 0)
    return WH_OK;
  d->urls = calloc(n, sizeof(*d->urls));
  if (d->urls == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "%s: out of memory", what);
  for (size_t i = 0; i < n; i++) {
    json_t *u = json_array_get(v, i);
    if (!json_is_string(u))
      return wh_err_set(err, WH_EINVALID, 0, "%s: urls[%zu] is not a string", what, i);
    d->urls[i] = strdup(json_string_value(u));
    if (d->urls[i] == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "%s: out of memory", what);
    d->n_urls = i + 1;
  }
  return WH_OK;
}

static enum wh_code parse_platform(json_t *obj, struct wh_descriptor *d, const char *what, struct wh_err *err)
{
  json_t *v = json_object_get(obj, "platform");
  struct wh_platform *p = &d->platform;
  enum wh_code rc;

  if (v == NULL)
    return WH_OK;
  if (!json_is_object(v))
    return wh_err_set(err, WH_EINVALID, 0, "%s: platform is not an object", what);
  d->has_platform = true;
  rc = opt_string(v, "architecture", what, &p->architecture, err);
  if (rc == WH_OK)
    rc = opt_string(v, "os", what, &p->os, err);
  if (rc == WH_OK)
    rc = opt_string(v, "variant", what, &p->variant, err);
  if (rc == WH_OK)
    rc = opt_string(v, "os.version", what, &p->os_version, err);
  if (rc != WH_OK)
    return rc;
  if (p->architecture == NULL || p->os == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "%s: platform needs architecture and os", what);
  return WH_OK;
}

/* ---- descriptors ------------------------------------------------------ */

static enum wh_code parse_size(json_t *obj, uint64_t *out, const char *what, struct wh_err *err)
{
  json_t *v = json_object_get(obj, "size");

  if (v == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "%s: missing size", what);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return wh_err_set(err, WH_EINVALID, 0, "%s: size is not a non-negative integer", what);
  *out = (uint64_t)json_integer_value(v);
  return WH_OK;
}

static enum wh_code parse_digest_field(json_t *obj, struct wh_digest *out, const char *what,
                                       struct wh_err *err)
{
  json_t *v = json_object_get(obj, "digest");
  enum wh_code rc;

  if (v == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "%s: missing digest", what);
  if (!json_is_string(v))
    return wh_err_set(err, WH_EINVALID, 0, "%s: digest is not a string", what);
  rc = wh_digest_parse(json_string_value(v), json_string_length(v), out, err);
  if (rc == WH_OK)
    return WH_OK;
  /* The contract: a manifest is WH_EINVALID whatever is wrong in it. */
  if (err)
    err->code = WH_EINVALID;
  wh_err_wrap(err, "%s", what);
  return WH_EINVALID;
}

/* Parses one descriptor object into d (zeroed by the caller). On failure d
 * may hold partial results: the caller releases it. `what` names it in
 * messages ("layers[3]"). */
static enum wh_code parse_descriptor(json_t *obj, bool with_platform, struct wh_descriptor *d,
                                     const char *what, struct wh_err *err)
{
  enum wh_code rc;

  if (!json_is_object(obj))
    return wh_err_set(err, WH_EINVALID, 0, "%s: descriptor is not an object", what);
  rc = opt_media_type(obj, "mediaType", what, &d->media_type, err);
  if (rc != WH_OK)
    return rc;
  if (d->media_type == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "%s: missing mediaType", what);
  rc = parse_digest_field(obj, &d->digest, what, err);
  if (rc == WH_OK)
    rc = parse_size(obj, &d->size, what, err);
  if (rc == WH_OK)
    rc = opt_media_type(obj, "artifactType", what, &d->artifact_type, err);
  if (rc == WH_OK)
    rc = opt_annotations(obj, what, &d->annotations, err);
  if (rc == WH_OK)
    rc = parse_urls(obj, d, what, err);
  if (rc == WH_OK && with_platform)
    rc = parse_platform(obj, d, what, err);
  return rc;
}

/* Parses the array at key into a new descriptor vector. */
static enum wh_code parse_list(json_t *root, const char *key, bool with_platform, struct wh_descriptor **out,
                               size_t *n_out, struct wh_err *err)
{
  json_t *arr = json_object_get(root, key);
  struct wh_descriptor *v;
  size_t n;
  char what[48];

  if (arr == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: missing %s", key);
  if (!json_is_array(arr))
    return wh_err_set(err, WH_EINVALID, 0, "manifest: %s is not an array", key);
  n = json_array_size(arr);
  if (n > WH_MANIFEST_MAX_DESCRIPTORS)
    return wh_err_set(err, WH_ETOOBIG, 0, "manifest: more than %d %s", WH_MANIFEST_MAX_DESCRIPTORS, key);
  v = calloc(n ? n : 1, sizeof(*v));
  if (v == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "manifest: out of memory");
  for (size_t i = 0; i < n; i++) {
    snprintf(what, sizeof(what), "%s[%zu]", key, i);
    enum wh_code rc = parse_descriptor(json_array_get(arr, i), with_platform, &v[i], what, err);
    if (rc != WH_OK) {
      descriptors_free(v, i + 1);
      return rc;
    }
  }
  *out = v;
  *n_out = n;
  return WH_OK;
}

/* ---- the manifest ----------------------------------------------------- */

/* Copies the media type part of a Content-Type (before any ';', without
 * blanks) into buf; "" when none or too long. */
static void content_type_base(const char *ct, char *buf, size_t size)
{
  size_t n = 0;

  buf[0] = '\0';
  if (ct == NULL)
    return;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
    n++;
  if (n >= size)
    return;
  memcpy(buf, ct, n);
  buf[n] = '\0';
}

/* Decides the effective media type and kind, and refuses ambiguous bodies
 * (CVE-2021-41190). */
static enum wh_code decide_kind(json_t *root, const char *ct, struct wh_manifest *m, struct wh_err *err)
{
  char ctb[256];
  const char *eff;
  bool has_manifests = json_object_get(root, "manifests") != NULL;
  bool has_image = json_object_get(root, "config") != NULL || json_object_get(root, "layers") != NULL;
  enum wh_code rc = opt_media_type(root, "mediaType", "manifest", &m->media_type, err);

  if (rc != WH_OK)
    return rc;
  content_type_base(ct, ctb, sizeof(ctb));
  /* A generic Content-Type (application/json, curl's form default) says
   * nothing; only a manifest type must agree with the body. */
  if (m->media_type && ctb[0] && wh_media_type_is_manifest(ctb) && strcmp(m->media_type, ctb) != 0)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: mediaType \"%s\" does not match content type \"%s\"",
                      m->media_type, ctb);
  if (m->media_type == NULL && has_manifests && has_image)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: ambiguous: both manifests and config/layers");
  if (m->media_type)
    eff = m->media_type;
  else if (ctb[0])
    eff = ctb;
  else /* No type anywhere: an OCI body told by its fields (mediaType is only SHOULD). */
    eff = has_manifests ? WH_MT_OCI_INDEX : has_image ? WH_MT_OCI_MANIFEST : NULL;
  if (!wh_media_type_is_manifest(eff))
    return wh_err_set(err, WH_EINVALID, 0, "manifest: unsupported media type \"%s\"", eff ? eff : "");
  if (m->media_type == NULL && strncmp(eff, "application/vnd.docker.", 23) == 0)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: docker manifest without mediaType");
  if (m->media_type == NULL && (m->media_type = strdup(eff)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "manifest: out of memory");
  m->kind = wh_media_type_is_index(eff) ? WH_MANIFEST_INDEX : WH_MANIFEST_IMAGE;
  if (m->kind == WH_MANIFEST_IMAGE && has_manifests)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: image manifest with manifests");
  if (m->kind == WH_MANIFEST_INDEX && has_image)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: index with config or layers");
  return WH_OK;
}

static enum wh_code parse_subject(json_t *root, struct wh_manifest *m, struct wh_err *err)
{
  json_t *v = json_object_get(root, "subject");

  if (v == NULL)
    return WH_OK;
  m->subject = calloc(1, sizeof(*m->subject));
  if (m->subject == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "manifest: out of memory");
  return parse_descriptor(v, false, m->subject, "subject", err);
}

static enum wh_code parse_body(json_t *root, struct wh_manifest *m, struct wh_err *err)
{
  json_t *sv = json_object_get(root, "schemaVersion");
  enum wh_code rc;

  if (!json_is_integer(sv) || json_integer_value(sv) != 2)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: schemaVersion is not 2");
  if (m->kind == WH_MANIFEST_IMAGE) {
    json_t *cfg = json_object_get(root, "config");
    if (cfg == NULL)
      return wh_err_set(err, WH_EINVALID, 0, "manifest: missing config");
    rc = parse_descriptor(cfg, false, &m->config, "config", err);
    if (rc == WH_OK)
      rc = parse_list(root, "layers", false, &m->layers, &m->n_layers, err);
  } else {
    rc = parse_list(root, "manifests", true, &m->manifests, &m->n_manifests, err);
  }
  if (rc == WH_OK)
    rc = parse_subject(root, m, err);
  if (rc == WH_OK)
    rc = opt_media_type(root, "artifactType", "manifest", &m->artifact_type, err);
  if (rc == WH_OK)
    rc = opt_annotations(root, "manifest", &m->annotations, err);
  return rc;
}

static void cleanup_manifest(struct wh_manifest *m)
{
  wh_manifest_release(m);
}

enum wh_code wh_manifest_parse(const void *body, size_t len, const char *content_type,
                               struct wh_manifest *out, struct wh_err *err)
{
  __attribute__((cleanup(cleanup_manifest))) struct wh_manifest m = {0};
  json_auto_t *root = NULL;
  json_error_t jerr;
  enum wh_code rc;

  if (len > WH_MANIFEST_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "manifest: %zu bytes, more than %u", len, WH_MANIFEST_MAX);
  if (body == NULL || len == 0)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: empty body");
  root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "manifest: invalid json: %s at line %d column %d", jerr.text,
                      jerr.line, jerr.column);
  if (!json_is_object(root))
    return wh_err_set(err, WH_EINVALID, 0, "manifest: not a json object");
  rc = decide_kind(root, content_type, &m, err);
  if (rc == WH_OK)
    rc = parse_body(root, &m, err);
  if (rc != WH_OK)
    return rc;
  *out = m;
  memset(&m, 0, sizeof(m));
  return WH_OK;
}

/* ---- encoding --------------------------------------------------------- */

static int set_opt_string(json_t *o, const char *key, const char *v)
{
  return v ? json_object_set_new(o, key, json_string(v)) : 0;
}

static json_t *platform_to_json(const struct wh_platform *p)
{
  json_t *o = json_object();

  if (o == NULL)
    return NULL;
  if (set_opt_string(o, "architecture", p->architecture) || set_opt_string(o, "os", p->os) ||
      set_opt_string(o, "os.version", p->os_version) || set_opt_string(o, "variant", p->variant)) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *urls_to_json(const struct wh_descriptor *d)
{
  json_t *a = json_array();

  if (a == NULL)
    return NULL;
  for (size_t i = 0; i < d->n_urls; i++) {
    if (json_array_append_new(a, json_string(d->urls[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

json_t *wh_descriptor_to_json(const struct wh_descriptor *d)
{
  json_auto_t *o = json_object();
  int bad;

  if (o == NULL || d->media_type == NULL)
    return NULL;
  bad = json_object_set_new(o, "mediaType", json_string(d->media_type));
  bad |= set_opt_string(o, "artifactType", d->artifact_type);
  bad |= json_object_set_new(o, "digest", json_string(d->digest.str));
  bad |= json_object_set_new(o, "size", json_integer((json_int_t)d->size));
  if (d->n_urls)
    bad |= json_object_set_new(o, "urls", urls_to_json(d));
  if (d->annotations)
    bad |= json_object_set(o, "annotations", d->annotations);
  if (d->has_platform)
    bad |= json_object_set_new(o, "platform", platform_to_json(&d->platform));
  if (bad)
    return NULL;
  return json_incref(o);
}
