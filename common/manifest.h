/* common/manifest.h - OCI / Docker media types and the manifest parser.
 *
 * wh_manifest_parse() reads an untrusted manifest body (image manifest or
 * index, OCI or Docker schema 2) and checks it strictly:
 *  - valid JSON object of at most WH_MANIFEST_MAX bytes, schemaVersion 2;
 *  - the body's mediaType, when present, must equal the Content-Type given
 *    (when one is given and it is not empty);
 *  - the kind (image or index) comes from mediaType, else Content-Type;
 *    a body without mediaType that has both "manifests" and "config"/"layers"
 *    is refused (CVE-2021-41190 ambiguity), as is an image manifest that has
 *    "manifests" or an index that has "config"/"layers";
 *  - every descriptor has a valid mediaType (RFC 6838 shape), a digest that
 *    wh_digest_parse() accepts and a size >= 0.
 * Unknown fields are ignored. An OCI artifact manifest (image manifest with
 * artifactType or a non-image config media type) is an image manifest here.
 * Details: Content-Type parameters (";charset=...") are ignored; with no
 * mediaType and no Content-Type the kind follows the fields (OCI types);
 * Docker types need mediaType in the body; index entries may carry a
 * platform (then with os and architecture); annotations are objects of
 * strings; a digest of an unsupported algorithm is WH_EINVALID here; more
 * than WH_MANIFEST_MAX_DESCRIPTORS entries in one list is WH_ETOOBIG.
 */
#ifndef WH_MANIFEST_H
#define WH_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"
#include "common/err.h"

#define WH_MANIFEST_MAX (4u * 1024 * 1024)
/* Most descriptors (layers, manifests, urls of one descriptor) accepted in
 * one list; more is WH_ETOOBIG. */
#define WH_MANIFEST_MAX_DESCRIPTORS 10000

#define WH_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define WH_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define WH_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define WH_MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define WH_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define WH_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define WH_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define WH_MT_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define WH_MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define WH_MT_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
#define WH_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define WH_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define WH_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define WH_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define WH_MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

enum wh_manifest_kind {
  WH_MANIFEST_IMAGE = 1,
  WH_MANIFEST_INDEX = 2,
};

struct wh_platform {
  char *os;           /* owned, may be NULL */
  char *architecture; /* owned, may be NULL */
  char *variant;      /* owned, may be NULL */
  char *os_version;   /* owned, may be NULL */
};

struct wh_descriptor {
  char *media_type; /* owned, never NULL after parse */
  struct wh_digest digest;
  uint64_t size;
  char *artifact_type; /* owned, may be NULL */
  json_t *annotations; /* owned reference, may be NULL (object when set) */
  bool has_platform;
  struct wh_platform platform; /* index entries only */
  size_t n_urls;
  char **urls; /* owned */
};

struct wh_manifest {
  enum wh_manifest_kind kind;
  char *media_type;            /* owned: effective media type (body, else Content-Type) */
  char *artifact_type;         /* owned: top-level artifactType, may be NULL */
  struct wh_descriptor config; /* WH_MANIFEST_IMAGE only */
  size_t n_layers;
  struct wh_descriptor *layers; /* WH_MANIFEST_IMAGE only */
  size_t n_manifests;
  struct wh_descriptor *manifests; /* WH_MANIFEST_INDEX only */
  struct wh_descriptor *subject;   /* owned, may be NULL */
  json_t *annotations;             /* owned reference, may be NULL */
};

/* content_type may be NULL or "". *out written only on success; release with
 * wh_manifest_release(). Errors: WH_ETOOBIG, WH_EINVALID (with the reason). */
enum wh_code wh_manifest_parse(const void *body, size_t len, const char *content_type,
                               struct wh_manifest *out, struct wh_err *err);
void wh_manifest_release(struct wh_manifest *m);
void wh_descriptor_release(struct wh_descriptor *d);

bool wh_media_type_valid(const char *mt);               /* RFC 6838 type/subtype[+suffix] shape */
bool wh_media_type_is_manifest(const char *mt);         /* OCI/Docker manifest or index */
bool wh_media_type_is_index(const char *mt);            /* OCI index or Docker list */
bool wh_media_type_is_nondistributable(const char *mt); /* layers that need not be pushed */

/* The artifactType a referrers response reports for m: its artifactType,
 * else its config's media type (image manifests), else NULL. Borrowed. */
const char *wh_manifest_effective_artifact_type(const struct wh_manifest *m);

/* Encodes one descriptor as a JSON object (new reference, NULL on ENOMEM). */
json_t *wh_descriptor_to_json(const struct wh_descriptor *d);

#endif
