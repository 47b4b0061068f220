/* tests/unit/test_manifest.c - unit tests for common/manifest.c: the strict
 * manifest parser (OCI image, index, Docker schema 2 manifest and list,
 * artifacts with subject), the CVE-2021-41190 ambiguity checks, size and
 * count caps, media type predicates and descriptor encoding.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/manifest.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

#define DESC(mt, d, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #sz "}"
#define CFG DESC(WH_MT_OCI_CONFIG, DA, 7023)
#define LAYER DESC(WH_MT_OCI_LAYER_GZIP, DB, 32654)

static const char oci_image[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[" LAYER
    ",{\"mediaType\":\"" WH_MT_OCI_LAYER_ZSTD "\",\"digest\":\"" DC "\",\"size\":0,"
    "\"annotations\":{\"org.opencontainers.image.title\":\"x.tar\"}}],"
    "\"annotations\":{\"com.example.key1\":\"value1\"}}";

static const char oci_index[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\",\"manifests\":["
    "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":7143,"
    "\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":7682,"
    "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"os.version\":\"1\","
    "\"os.features\":[\"x\"]}}," DESC(WH_MT_OCI_MANIFEST, DC,
                                      1) "],"
                                         "\"annotations\":{\"com.example.key1\":\"value1\"}}";

static const char docker_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_DOCKER_MANIFEST
    "\",\"config\":" DESC(WH_MT_DOCKER_CONFIG, DA, 7023) ",\"layers\":[" DESC(
        WH_MT_DOCKER_LAYER_GZIP, DB,
        32654) ","
               "{\"mediaType\":\"" WH_MT_DOCKER_LAYER_FOREIGN "\",\"digest\":\"" DC "\",\"size\":1,"
               "\"urls\":[\"https://example.com/a\",\"https://example.com/b\"]}]}";

static const char docker_list[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_DOCKER_LIST "\",\"manifests\":["
    "{\"mediaType\":\"" WH_MT_DOCKER_MANIFEST "\",\"digest\":\"" DA "\",\"size\":7143,"
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";

static const char artifact[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\","
    "\"artifactType\":\"application/vnd.example.sbom.v1\","
    "\"config\":" DESC(WH_MT_OCI_EMPTY, DA,
                       2) ","
                          "\"layers\":[" DESC("application/spdx+json", DB,
                                              1234) "],"
                                                    "\"subject\":" DESC(
                                                        WH_MT_OCI_MANIFEST, DC,
                                                        7682) ","
                                                              "\"annotations\":{\"org.opencontainers.image."
                                                              "created\":\"2023-01-01T00:00:00Z\"}}";

static enum wh_code parse(const char *body, const char *ct, struct wh_manifest *m)
{
  struct wh_err e;
  enum wh_code rc = wh_manifest_parse(body, strlen(body), ct, m, &e);

  if (rc != WH_OK)
    assert_true(strlen(e.msg) > 0);
  return rc;
}

static enum wh_code parse_only(const char *body, const char *ct)
{
  struct wh_manifest m;
  enum wh_code rc = parse(body, ct, &m);

  if (rc == WH_OK)
    wh_manifest_release(&m);
  return rc;
}

static void oci_image_fields(void **state)
{
  struct wh_manifest m;

  assert_int_equal(parse(oci_image, WH_MT_OCI_MANIFEST, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_IMAGE);
  assert_string_equal(m.media_type, WH_MT_OCI_MANIFEST);
  assert_null(m.artifact_type);
  assert_string_equal(m.config.media_type, WH_MT_OCI_CONFIG);
  assert_string_equal(m.config.digest.str, DA);
  assert_int_equal(m.config.size, 7023);
  assert_int_equal(m.n_layers, 2);
  assert_string_equal(m.layers[0].digest.str, DB);
  assert_int_equal(m.layers[0].size, 32654);
  assert_null(m.layers[0].annotations);
  assert_int_equal(m.layers[1].size, 0);
  assert_string_equal(
      json_string_value(json_object_get(m.layers[1].annotations, "org.opencontainers.image.title")), "x.tar");
  assert_int_equal(m.n_manifests, 0);
  assert_null(m.subject);
  assert_string_equal(json_string_value(json_object_get(m.annotations, "com.example.key1")), "value1");
  assert_string_equal(wh_manifest_effective_artifact_type(&m), WH_MT_OCI_CONFIG);
  wh_manifest_release(&m);
  wh_manifest_release(&m); /* idempotent */
  wh_manifest_release(NULL);
}

static void oci_index_fields(void **state)
{
  struct wh_manifest m;

  assert_int_equal(parse(oci_index, NULL, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_INDEX);
  assert_string_equal(m.media_type, WH_MT_OCI_INDEX);
  assert_int_equal(m.n_manifests, 3);
  assert_int_equal(m.n_layers, 0);
  assert_true(m.manifests[0].has_platform);
  assert_string_equal(m.manifests[0].platform.architecture, "ppc64le");
  assert_string_equal(m.manifests[0].platform.os, "linux");
  assert_null(m.manifests[0].platform.variant);
  assert_string_equal(m.manifests[1].platform.variant, "v8");
  assert_string_equal(m.manifests[1].platform.os_version, "1");
  assert_false(m.manifests[2].has_platform);
  assert_null(wh_manifest_effective_artifact_type(&m));
  wh_manifest_release(&m);
}

static void docker_manifest_fields(void **state)
{
  struct wh_manifest m;

  assert_int_equal(parse(docker_manifest, WH_MT_DOCKER_MANIFEST, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_IMAGE);
  assert_string_equal(m.media_type, WH_MT_DOCKER_MANIFEST);
  assert_string_equal(m.config.media_type, WH_MT_DOCKER_CONFIG);
  assert_int_equal(m.n_layers, 2);
  assert_int_equal(m.layers[1].n_urls, 2);
  assert_string_equal(m.layers[1].urls[1], "https://example.com/b");
  assert_true(wh_media_type_is_nondistributable(m.layers[1].media_type));
  assert_false(wh_media_type_is_nondistributable(m.layers[0].media_type));
  wh_manifest_release(&m);
}

static void docker_list_fields(void **state)
{
  struct wh_manifest m;

  assert_int_equal(parse(docker_list, WH_MT_DOCKER_LIST, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_INDEX);
  assert_string_equal(m.media_type, WH_MT_DOCKER_LIST);
  assert_int_equal(m.n_manifests, 1);
  assert_string_equal(m.manifests[0].platform.architecture, "amd64");
  wh_manifest_release(&m);
}

static void artifact_fields(void **state)
{
  struct wh_manifest m;

  assert_int_equal(parse(artifact, WH_MT_OCI_MANIFEST, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_IMAGE);
  assert_string_equal(m.artifact_type, "application/vnd.example.sbom.v1");
  assert_string_equal(wh_manifest_effective_artifact_type(&m), "application/vnd.example.sbom.v1");
  assert_non_null(m.subject);
  assert_string_equal(m.subject->digest.str, DC);
  assert_string_equal(m.subject->media_type, WH_MT_OCI_MANIFEST);
  assert_int_equal(m.subject->size, 7682);
  assert_string_equal(m.config.media_type, WH_MT_OCI_EMPTY);
  wh_manifest_release(&m);
}

static void index_with_subject_and_artifact_type(void **state)
{
  const char *body = "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\","
                     "\"artifactType\":\"application/vnd.example.bundle\",\"manifests\":[],"
                     "\"subject\":" DESC(WH_MT_OCI_INDEX, DA, 10) "}";
  struct wh_manifest m;

  assert_int_equal(parse(body, NULL, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_INDEX);
  assert_string_equal(wh_manifest_effective_artifact_type(&m), "application/vnd.example.bundle");
  assert_string_equal(m.subject->digest.str, DA);
  wh_manifest_release(&m);
}

static void content_type_rules(void **state)
{
  assert_int_equal(parse_only(oci_image, ""), WH_OK);
  assert_int_equal(parse_only(oci_image, WH_MT_OCI_MANIFEST "; charset=utf-8"), WH_OK);
  assert_int_equal(parse_only(oci_image, " " WH_MT_OCI_MANIFEST), WH_OK);
  assert_int_equal(parse_only(oci_image, WH_MT_OCI_INDEX), WH_EINVALID);
  assert_int_equal(parse_only(oci_image, WH_MT_DOCKER_MANIFEST), WH_EINVALID);
  /* A generic Content-Type defers to the body's mediaType. */
  assert_int_equal(parse_only(oci_image, "application/json"), WH_OK);
  assert_int_equal(parse_only(oci_index, WH_MT_OCI_MANIFEST), WH_EINVALID);
  assert_int_equal(parse_only(docker_manifest, WH_MT_OCI_MANIFEST), WH_EINVALID);
  assert_int_equal(parse_only(docker_list, WH_MT_OCI_INDEX), WH_EINVALID);
}

static void kind_without_body_media_type(void **state)
{
  const char *img = "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[" LAYER "]}";
  const char *idx = "{\"schemaVersion\":2,\"manifests\":[" DESC(WH_MT_OCI_MANIFEST, DA, 1) "]}";
  struct wh_manifest m;

  assert_int_equal(parse(img, NULL, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_IMAGE);
  assert_string_equal(m.media_type, WH_MT_OCI_MANIFEST);
  wh_manifest_release(&m);
  assert_int_equal(parse(idx, WH_MT_OCI_INDEX, &m), WH_OK);
  assert_int_equal(m.kind, WH_MANIFEST_INDEX);
  assert_string_equal(m.media_type, WH_MT_OCI_INDEX);
  wh_manifest_release(&m);
  /* Content-Type decides the kind: an index body sent as an image is refused. */
  assert_int_equal(parse_only(idx, WH_MT_OCI_MANIFEST), WH_EINVALID);
  assert_int_equal(parse_only(img, WH_MT_OCI_INDEX), WH_EINVALID);
  assert_int_equal(parse_only(img, "application/octet-stream"), WH_EINVALID);
  /* Docker schema 2 always carries mediaType in the body. */
  assert_int_equal(parse_only(img, WH_MT_DOCKER_MANIFEST), WH_EINVALID);
  assert_int_equal(parse_only(idx, WH_MT_DOCKER_LIST), WH_EINVALID);
  assert_int_equal(parse_only("{\"schemaVersion\":2}", NULL), WH_EINVALID);
}

static void ambiguous_documents(void **state)
{
  /* CVE-2021-41190: a body that reads as both an image and an index. */
  const char *both = "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[],\"manifests\":[]}";
  const char *both2 = "{\"schemaVersion\":2,\"layers\":[" LAYER "],\"manifests\":[" LAYER "]}";
  const char *img_with_manifests = "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST
                                   "\",\"config\":" CFG ",\"layers\":[],\"manifests\":[]}";
  const char *idx_with_layers = "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\",\"manifests\":[],"
                                "\"layers\":[]}";
  const char *idx_with_config = "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\",\"manifests\":[],"
                                "\"config\":" CFG "}";

  assert_int_equal(parse_only(both, NULL), WH_EINVALID);
  assert_int_equal(parse_only(both, WH_MT_OCI_MANIFEST), WH_EINVALID);
  assert_int_equal(parse_only(both, WH_MT_OCI_INDEX), WH_EINVALID);
  assert_int_equal(parse_only(both2, WH_MT_OCI_INDEX), WH_EINVALID);
  assert_int_equal(parse_only(img_with_manifests, NULL), WH_EINVALID);
  assert_int_equal(parse_only(idx_with_layers, NULL), WH_EINVALID);
  assert_int_equal(parse_only(idx_with_config, NULL), WH_EINVALID);
}

static void schema_version(void **state)
{
  const char *bodies[] = {
      "{\"schemaVersion\":1,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
      "{\"schemaVersion\":\"2\",\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
      "{\"schemaVersion\":2.0,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
      "{\"schemaVersion\":3,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
      "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
      "{\"schemaVersion\":null,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG ",\"layers\":[]}",
  };

  for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
    if (parse_only(bodies[i], NULL) != WH_EINVALID)
      fail_msg("accepted: %s", bodies[i]);
  assert_int_equal(parse_only("{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
                              ",\"layers\":[]}",
                              NULL),
                   WH_OK);
}

#define IMG_WITH(cfg, layers)                                                                                \
  "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" cfg ",\"layers\":" layers "}"

static void bad_descriptors(void **state)
{
  const char *bodies[] = {
      IMG_WITH(CFG, "{}"),
      IMG_WITH(CFG, "null"),
      IMG_WITH(CFG, "\"x\""),
      IMG_WITH(CFG, "[1]"),
      IMG_WITH(CFG, "[[]]"),
      IMG_WITH("[]", "[]"),
      IMG_WITH("null", "[]"),
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"layers\":[]}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG "}",
      IMG_WITH(CFG, "[{\"digest\":\"" DA "\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\"}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":-1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1.5}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1e3}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":\"12\"}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":null}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":99999999999999999999}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1e400}]"),
      IMG_WITH(
          CFG,
          "[{\"mediaType\":\"a/b\",\"digest\":\"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
          "AAAAAAAAAAAA\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"sha256:abc\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"blake3:abc\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":42,\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a\",\"digest\":\"" DA "\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\\r\\nX-Evil: 1\",\"digest\":\"" DA "\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":7,\"digest\":\"" DA "\",\"size\":1}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1,\"annotations\":[]}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1,\"annotations\":{\"k\":1}}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1,\"urls\":\"http://x\"}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1,\"urls\":[1]}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1,\"artifactType\":5}]"),
      IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1,\"artifactType\":\"x\"}]"),
      IMG_WITH(DESC("a/b", "sha256:", 1), "[]"),
  };

  for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
    if (parse_only(bodies[i], NULL) != WH_EINVALID)
      fail_msg("accepted or wrong code: %s", bodies[i]);
}

static void good_descriptor_variants(void **state)
{
  struct wh_manifest m;

  /* size 0 and the largest JSON integer; empty layers; unknown fields. */
  assert_int_equal(
      parse(IMG_WITH(CFG, "[{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":9223372036854775807,"
                          "\"data\":\"e30=\",\"x-unknown\":{\"a\":[1,2]}}]"),
            NULL, &m),
      WH_OK);
  assert_true(m.layers[0].size == 9223372036854775807ull);
  wh_manifest_release(&m);
  assert_int_equal(parse(IMG_WITH(CFG, "[]"), NULL, &m), WH_OK);
  assert_int_equal(m.n_layers, 0);
  wh_manifest_release(&m);
}

static void bad_index_entries(void **state)
{
  const char *pre = "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\",\"manifests\":";
  const char *entries[] = {
      "{}",
      "[{\"digest\":\"" DA "\",\"size\":1}]",
      "[{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"size\":1}]",
      "[{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\"}]",
      "[{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,\"platform\":[]}]",
      "[{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"" DA
      "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]",
      "[{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
      "\"platform\":{\"os\":\"linux\",\"architecture\":1}}]",
  };
  char body[1024];

  for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
    snprintf(body, sizeof(body), "%s%s}", pre, entries[i]);
    if (parse_only(body, NULL) != WH_EINVALID)
      fail_msg("accepted: %s", body);
  }
  assert_int_equal(parse_only("{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\"}", NULL),
                   WH_EINVALID);
}

static void bad_top_level(void **state)
{
  const char *bodies[] = {
      "",
      "null",
      "[]",
      "\"manifest\"",
      "42",
      "{",
      "{}",
      IMG_WITH(CFG, "[]") "x",
      IMG_WITH(CFG, "[]") "{}",
      "{\"schemaVersion\":2,\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[]}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"mediaType\":\"" WH_MT_OCI_INDEX
      "\",\"config\":" CFG ",\"layers\":[]}",
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\",\"blobs\":[]}",
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}",
      "{\"schemaVersion\":2,\"mediaType\":42,\"config\":" CFG ",\"layers\":[]}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"annotations\":\"x\"}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"annotations\":{\"a\":null}}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"artifactType\":[]}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"subject\":\"" DA "\"}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"subject\":{\"mediaType\":\"a/b\",\"digest\":\"" DA "\"}}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"x\":\"\xff\xfe\"}",
      "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"config\":" CFG
      ",\"layers\":[],\"x\":\"\\u0000\"}",
  };

  for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
    if (parse_only(bodies[i], NULL) != WH_EINVALID)
      fail_msg("accepted: %s", bodies[i]);
}

static void embedded_nul_byte(void **state)
{
  static const char body[] = "{\"schemaVersion\":2,\0\"mediaType\":\"" WH_MT_OCI_MANIFEST "\"}";
  struct wh_manifest m;

  assert_int_equal(wh_manifest_parse(body, sizeof(body) - 1, NULL, &m, NULL), WH_EINVALID);
  assert_int_equal(wh_manifest_parse(NULL, 0, NULL, &m, NULL), WH_EINVALID);
}

static void size_cap_before_parse(void **state)
{
  struct wh_manifest m;
  struct wh_err e;
  char *big = malloc(WH_MANIFEST_MAX + 1);

  assert_non_null(big);
  memset(big, ' ', WH_MANIFEST_MAX + 1);
  memcpy(big, oci_image, strlen(oci_image));
  assert_int_equal(wh_manifest_parse(big, WH_MANIFEST_MAX + 1, NULL, &m, &e), WH_ETOOBIG);
  assert_int_equal(e.code, WH_ETOOBIG);
  /* Trailing whitespace inside the cap is fine JSON. */
  assert_int_equal(wh_manifest_parse(big, WH_MANIFEST_MAX, NULL, &m, &e), WH_OK);
  wh_manifest_release(&m);
  /* The cap comes first: even a NULL body with a huge length is refused by size. */
  assert_int_equal(wh_manifest_parse(NULL, (size_t)-1, NULL, &m, NULL), WH_ETOOBIG);
  free(big);
}

static char *many_layers(size_t n)
{
  struct wh_buf b;

  wh_buf_init(&b, WH_MANIFEST_MAX);
  assert_int_equal(wh_buf_appendz(&b, "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST
                                      "\",\"config\":" CFG ",\"layers\":["),
                   WH_OK);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(
        wh_buf_printf(&b, "%s{\"mediaType\":\"a/b\",\"digest\":\"%s\",\"size\":%zu}", i ? "," : "", DA, i),
        WH_OK);
  assert_int_equal(wh_buf_appendz(&b, "]}"), WH_OK);
  return wh_buf_steal(&b, NULL);
}

static void descriptor_count_cap(void **state)
{
  char *ok = many_layers(WH_MANIFEST_MAX_DESCRIPTORS);
  char *over = many_layers(WH_MANIFEST_MAX_DESCRIPTORS + 1);
  struct wh_manifest m;

  assert_int_equal(parse(ok, NULL, &m), WH_OK);
  assert_int_equal(m.n_layers, WH_MANIFEST_MAX_DESCRIPTORS);
  assert_int_equal(m.layers[9999].size, 9999);
  wh_manifest_release(&m);
  assert_int_equal(parse(over, NULL, &m), WH_ETOOBIG);
  free(ok);
  free(over);
}

static void deep_nesting(void **state)
{
  size_t depth = 100000;
  char *s = malloc(2 * depth + 64);
  size_t n = 0;
  struct wh_manifest m;

  assert_non_null(s);
  n += (size_t)sprintf(s, "{\"schemaVersion\":2,\"x\":");
  memset(s + n, '[', depth);
  n += depth;
  memset(s + n, ']', depth);
  n += depth;
  s[n++] = '}';
  assert_int_equal(wh_manifest_parse(s, n, NULL, &m, NULL), WH_EINVALID);
  free(s);
}

static void failure_leaves_out(void **state)
{
  struct wh_manifest m;

  memset(&m, 0x5a, sizeof(m));
  assert_int_equal(parse(IMG_WITH(CFG, "[" LAYER ",{}]"), NULL, &m), WH_EINVALID);
  assert_int_equal(*(unsigned char *)&m, 0x5a);
}

static void media_type_shape(void **state)
{
  const char *good[] = {"a/b",
                        WH_MT_OCI_MANIFEST,
                        "application/spdx+json",
                        "text/plain",
                        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        "x-a!#$&^_.+-/y-b!#$&^_.+-"};
  const char *bad[] = {"",     "a",    "a/",   "/b",    "a/b/c",      "a b/c", "a/b;c=d",
                       "a/b ", ".a/b", "a/-b", "a/b\n", "\xc3\xa4/b", "a//b",  "a:/b"};
  char longest[300];

  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (!wh_media_type_valid(good[i]))
      fail_msg("rejected \"%s\"", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (wh_media_type_valid(bad[i]))
      fail_msg("accepted \"%s\"", bad[i]);
  assert_false(wh_media_type_valid(NULL));
  memset(longest, 'a', 127);
  longest[127] = '/';
  memset(longest + 128, 'b', 127);
  longest[255] = '\0';
  assert_true(wh_media_type_valid(longest));
  longest[255] = 'b';
  longest[256] = '\0';
  assert_false(wh_media_type_valid(longest));
}

static void media_type_predicates(void **state)
{
  assert_true(wh_media_type_is_manifest(WH_MT_OCI_MANIFEST));
  assert_true(wh_media_type_is_manifest(WH_MT_OCI_INDEX));
  assert_true(wh_media_type_is_manifest(WH_MT_DOCKER_MANIFEST));
  assert_true(wh_media_type_is_manifest(WH_MT_DOCKER_LIST));
  assert_false(wh_media_type_is_manifest(WH_MT_OCI_CONFIG));
  assert_false(wh_media_type_is_manifest("application/vnd.oci.image.manifest.v1+json "));
  assert_false(wh_media_type_is_manifest(NULL));
  assert_true(wh_media_type_is_index(WH_MT_OCI_INDEX));
  assert_true(wh_media_type_is_index(WH_MT_DOCKER_LIST));
  assert_false(wh_media_type_is_index(WH_MT_OCI_MANIFEST));
  assert_false(wh_media_type_is_index(NULL));
  assert_true(wh_media_type_is_nondistributable(WH_MT_OCI_LAYER_ND));
  assert_true(wh_media_type_is_nondistributable(WH_MT_OCI_LAYER_ND_GZIP));
  assert_true(wh_media_type_is_nondistributable(WH_MT_OCI_LAYER_ND_ZSTD));
  assert_true(wh_media_type_is_nondistributable(WH_MT_DOCKER_LAYER_FOREIGN));
  assert_false(wh_media_type_is_nondistributable(WH_MT_OCI_LAYER_GZIP));
  assert_false(wh_media_type_is_nondistributable(NULL));
}

static void descriptor_json_roundtrip(void **state)
{
  struct wh_manifest m;
  json_t *j;

  assert_int_equal(parse(oci_index, NULL, &m), WH_OK);
  j = wh_descriptor_to_json(&m.manifests[1]);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "mediaType")), WH_MT_OCI_MANIFEST);
  assert_string_equal(json_string_value(json_object_get(j, "digest")), DB);
  assert_int_equal(json_integer_value(json_object_get(j, "size")), 7682);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "platform"), "variant")), "v8");
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "platform"), "os.version")), "1");
  assert_null(json_object_get(j, "annotations"));
  assert_null(json_object_get(j, "urls"));
  json_decref(j);
  wh_manifest_release(&m);
}

static void descriptor_json_fields(void **state)
{
  struct wh_manifest m;
  json_t *j;
  struct wh_manifest again;
  char *enc, *body;
  size_t n;

  assert_int_equal(parse(docker_manifest, NULL, &m), WH_OK);
  j = wh_descriptor_to_json(&m.layers[1]);
  assert_non_null(j);
  assert_int_equal(json_array_size(json_object_get(j, "urls")), 2);
  assert_null(json_object_get(j, "platform"));
  assert_null(json_object_get(j, "artifactType"));
  enc = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  wh_manifest_release(&m);
  /* The encoding parses back as a layer of an image. */
  n = strlen(enc) + 1024;
  body = malloc(n);
  snprintf(body, n, IMG_WITH(CFG, "[%s]"), enc);
  assert_int_equal(parse(body, NULL, &again), WH_OK);
  assert_int_equal(again.layers[0].n_urls, 2);
  wh_manifest_release(&again);
  free(body);
  free(enc);

  assert_int_equal(parse(oci_image, NULL, &m), WH_OK);
  j = wh_descriptor_to_json(&m.layers[1]);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "annotations"), "org.opencontainers.image.title")),
      "x.tar");
  json_decref(j);
  wh_manifest_release(&m);
}

static void descriptor_json_artifact_type(void **state)
{
  struct wh_descriptor d = {0};
  char mt[] = "application/vnd.oci.image.manifest.v1+json";
  char at[] = "application/vnd.example";
  json_t *j;

  assert_null(wh_descriptor_to_json(&d)); /* no media type: refused */
  d.media_type = mt;
  d.artifact_type = at;
  d.size = 12;
  assert_int_equal(wh_digest_parsez(DA, &d.digest, NULL), WH_OK);
  j = wh_descriptor_to_json(&d);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "artifactType")), at);
  assert_int_equal(json_integer_value(json_object_get(j, "size")), 12);
  json_decref(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(oci_image_fields),       cmocka_unit_test(oci_index_fields),
      cmocka_unit_test(docker_manifest_fields), cmocka_unit_test(docker_list_fields),
      cmocka_unit_test(artifact_fields),        cmocka_unit_test(index_with_subject_and_artifact_type),
      cmocka_unit_test(content_type_rules),     cmocka_unit_test(kind_without_body_media_type),
      cmocka_unit_test(ambiguous_documents),    cmocka_unit_test(schema_version),
      cmocka_unit_test(bad_descriptors),        cmocka_unit_test(good_descriptor_variants),
      cmocka_unit_test(bad_index_entries),      cmocka_unit_test(bad_top_level),
      cmocka_unit_test(embedded_nul_byte),      cmocka_unit_test(size_cap_before_parse),
      cmocka_unit_test(descriptor_count_cap),   cmocka_unit_test(deep_nesting),
      cmocka_unit_test(failure_leaves_out),     cmocka_unit_test(media_type_shape),
      cmocka_unit_test(media_type_predicates),  cmocka_unit_test(descriptor_json_roundtrip),
      cmocka_unit_test(descriptor_json_fields), cmocka_unit_test(descriptor_json_artifact_type),
  };

  return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
