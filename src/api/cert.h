/* cert.h: the certificate and key of the HTTPS API listener. */
#ifndef CLONELB_API_CERT_H
#define CLONELB_API_CERT_H

#include <stdbool.h>

struct api_cert_source {
	const char *cert_file; /* --tls-cert, or NULL */
	const char *key_file;  /* --tls-key, or NULL */
	const char *dir;       /* where the generated pair lives (the store's directory) */
};

struct api_cert {
	char *cert_pem, *key_pem;
	char *cert_path;   /* the file the certificate came from */
	char *fingerprint; /* SHA-256 of the certificate, "AB:CD:..." */
	bool generated;    /* made by this start */
};

/*
 * Loads the pair named by @src, or, with neither file given, the pair in
 * @src->dir (api-cert.pem, api-key.pem mode 0600), generating a self-signed
 * ECDSA P-256 one the first time. Returns 0 and fills *ret (release with
 * api_cert_free()), or -errno with *ret_err naming the flag and the file.
 */
int api_cert_load(const struct api_cert_source *src, struct api_cert *ret, char **ret_err);

/* Releases what api_cert_load() filled, wiping the key. Accepts NULL. */
void api_cert_free(struct api_cert *c);

#endif
