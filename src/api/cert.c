/* cert.c: the TCP API's certificate: from --tls-cert/--tls-key, else a self-signed one made once beside the store. */
#include "api/cert.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

/* Reads a whole small file; NULL with errno set on failure. */
static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re");
	int c;

	if (!f)
		return NULL;
	FILE *m = open_memstream(&buf, &len);
	while ((c = fgetc(f)) != EOF && len < (1u << 20))
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

static char *ssl_err(const char *what)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return xasprintf("%s%s%s", what, *buf ? ": " : "", buf);
}

/* Writes @pem to @path with @mode, replacing it atomically. */
static int write_file(const char *path, const char *pem, mode_t mode, char **ret_err)
{
	char *tmp = xasprintf("%s.tmp", path);
	size_t len = strlen(pem);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), r = 0;

	if (fd == -1 || write(fd, pem, len) != (ssize_t)len || fsync(fd) == -1 ||
	    fchmod(fd, mode) == -1) {
		r = -errno;
		*ret_err = xasprintf("cannot write %s: %s", tmp, strerror(errno));
	}
	if (fd != -1)
		close(fd);
	if (r == 0 && rename(tmp, path) == -1) {
		r = -errno;
		*ret_err = xasprintf("cannot rename %s to %s: %s", tmp, path, strerror(errno));
	}
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

static char *bio_text(BIO *b)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *s = xcalloc(1, (size_t)n + 1);

	memcpy(s, p, (size_t)n);
	return s;
}

/* Makes an ECDSA P-256 key and a ten-year self-signed certificate for @cn. */
static int generate(const char *cn, char **ret_cert, char **ret_key, char **ret_err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char *san = xasprintf("DNS:%s,DNS:localhost,IP:127.0.0.1", cn);
	int r = -EIO;

	if (!key || !x || !cb || !kb || RAND_bytes(serial, sizeof(serial)) != 1) {
		*ret_err = ssl_err("cannot generate the API key");
		goto out;
	}
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_set_version(x, 2);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, key, EVP_sha256()) || !PEM_write_bio_X509(cb, x) ||
	    !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL)) {
		*ret_err = ssl_err("cannot sign the API certificate");
		goto out;
	}
	*ret_cert = bio_text(cb);
	*ret_key = bio_text(kb);
	r = 0;
out:
	free(san);
	BN_free(bn);
	BIO_free(cb);
	BIO_free(kb);
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

/* "SHA256 AB:CD:..." of the first certificate in @pem, or NULL if it does not parse. */
static char *fingerprint(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char *out = NULL;

	if (x && X509_digest(x, EVP_sha256(), md, &n) == 1) {
		out = xcalloc(1, n * 3 + 1);
		for (unsigned i = 0; i < n; i++)
			sprintf(out + i * 3, "%02X%s", md[i], i + 1 < n ? ":" : "");
	}
	ERR_clear_error();
	X509_free(x);
	BIO_free(b);
	return out;
}

int api_cert_load(const struct api_cert_source *src, struct api_cert *ret, char **ret_err)
{
	char *cert = NULL, *key = NULL, *cpath = NULL, *kpath = NULL, host[256] = "localhost";
	struct stat sb;
	int r;

	if (!!src->cert_file != !!src->key_file) {
		*ret_err = xasprintf("--tls-cert and --tls-key go together (got only %s)",
				     src->cert_file ? "--tls-cert" : "--tls-key");
		return -EINVAL;
	}
	if (src->cert_file) {
		cpath = xstrdup(src->cert_file);
		kpath = xstrdup(src->key_file);
	} else {
		cpath = xasprintf("%s/api-cert.pem", src->dir);
		kpath = xasprintf("%s/api-key.pem", src->dir);
	}
	if (!src->cert_file && stat(cpath, &sb) == -1 && errno == ENOENT) {
		gethostname(host, sizeof(host) - 1);
		r = generate(host, &cert, &key, ret_err);
		if (r == 0)
			r = write_file(kpath, key, 0600, ret_err);
		if (r == 0)
			r = write_file(cpath, cert, 0644, ret_err);
		if (r < 0)
			goto fail;
		ret->generated = true;
	} else {
		cert = slurp(cpath);
		key = slurp(kpath);
		if (!cert || !key) {
			r = -errno;
			*ret_err = xasprintf("%s: %s: %s", src->cert_file ? (cert ? "--tls-key"
										  : "--tls-cert")
									  : "API certificate",
					     cert ? kpath : cpath, strerror(errno));
			goto fail;
		}
		ret->generated = false;
	}
	ret->fingerprint = fingerprint(cert);
	if (!ret->fingerprint) {
		r = -EINVAL;
		*ret_err = xasprintf("%s: %s holds no PEM certificate",
				     src->cert_file ? "--tls-cert" : "API certificate", cpath);
		goto fail;
	}
	ret->cert_pem = cert;
	ret->key_pem = key;
	ret->cert_path = cpath;
	free(kpath);
	return 0;
fail:
	free(cert);
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	free(cpath);
	free(kpath);
	return r;
}

void api_cert_free(struct api_cert *c)
{
	if (!c)
		return;
	free(c->cert_pem);
	if (c->key_pem)
		explicit_bzero(c->key_pem, strlen(c->key_pem));
	free(c->key_pem);
	free(c->cert_path);
	free(c->fingerprint);
	memset(c, 0, sizeof(*c));
}
