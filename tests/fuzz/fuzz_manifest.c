/* tests/fuzz/fuzz_manifest.c - libFuzzer target for common/manifest.c.
 *
 * Parses the input as a manifest body without a Content-Type and then with
 * each manifest media type, and checks what an accepted manifest promises:
 * a kind that agrees with its media type, a Content-Type that (when given)
 * equals the media type, descriptors with valid media types and canonical
 * digests, and descriptors that encode back to JSON.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
    NULL, "", WH_MT_OCI_MANIFEST, WH_MT_OCI_INDEX, WH_MT_DOCKER_MANIFEST, WH_MT_DOCKER_LIST};

static void check(bool ok)
{
  if (!ok)
    abort();
}

static void check_descriptor(const struct wh_descriptor *d)
{
  json_t *j;
  struct wh_digest again;

  check(d->media_type && wh_media_type_valid(d->media_type));
  check(d->artifact_type == NULL || wh_media_type_valid(d->artifact_type));
  check(d->annotations == NULL || json_is_object(d->annotations));
  check(d->size <= (uint64_t)INT64_MAX);
  check(wh_digest_parsez(d->digest.str, &again, NULL) == WH_OK);
  check(!d->has_platform || (d->platform.os && d->platform.architecture));
  j = wh_descriptor_to_json(d);
  check(j != NULL);
  json_decref(j);
}

static void check_manifest(const struct wh_manifest *m, const char *ct)
{
  check(wh_media_type_is_manifest(m->media_type));
  check((m->kind == WH_MANIFEST_INDEX) == wh_media_type_is_index(m->media_type));
  if (ct && ct[0])
    check(strcmp(ct, m->media_type) == 0);
  if (m->kind == WH_MANIFEST_IMAGE) {
    check(m->n_manifests == 0 && m->manifests == NULL);
    check_descriptor(&m->config);
  } else {
    check(m->n_layers == 0 && m->layers == NULL && m->config.media_type == NULL);
  }
  check(m->n_layers <= WH_MANIFEST_MAX_DESCRIPTORS && m->n_manifests <= WH_MANIFEST_MAX_DESCRIPTORS);
  for (size_t i = 0; i < m->n_layers; i++)
    check_descriptor(&m->layers[i]);
  for (size_t i = 0; i < m->n_manifests; i++)
    check_descriptor(&m->manifests[i]);
  if (m->subject)
    check_descriptor(m->subject);
  check(m->annotations == NULL || json_is_object(m->annotations));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(content_types); i++) {
    struct wh_manifest m;
    struct wh_err err;
    enum wh_code rc = wh_manifest_parse(data, size, content_types[i], &m, &err);

    if (rc != WH_OK) {
      check((rc == WH_EINVALID || rc == WH_ETOOBIG) && err.code == rc && err.msg[0] != '\0');
      continue;
    }
    check_manifest(&m, content_types[i]);
    wh_manifest_release(&m);
  }
  return 0;
}
