/* px_tls.c: TLS with OpenSSL: termination contexts (certificates from PEM text, SNI selection, refusing handshakes when the pool is down) and TLS to the pool servers (client contexts, verification, sessions). */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "lib/util.h"
#include "proxy/px_int.h"

/* The default suites of a TLS virtual service (docs/dataplane.md). */
#define PX_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1"
#define PX_TLS13_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

static char *ssl_errstr(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return xasprintf("%s%s%s", what, *buf ? ": " : "", buf);
}

/*
 * Sets on @ctx the versions and suites of sslprofile @prof (NULL: the
 * defaults, System-Standard's). Returns 0, or -EINVAL with *ret_err (caller
 * frees). The store checked the profile; this fails only on an OpenSSL
 * that lacks what it names.
 */
int px_tls_profile(SSL_CTX *ctx, const json_t *prof, char **ret_err)
{
	const char *c12 = json_string_value(json_object_get(prof, "accepted_ciphers"));
	const char *c13 = json_string_value(json_object_get(prof, "ciphersuites"));
	const json_t *vers = json_object_get(prof, "accepted_versions"), *e;
	bool v12 = !prof, v13 = !prof;
	size_t i;

	json_array_foreach(vers, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "type")) ?: "";
		v12 |= !strcmp(t, "SSL_VERSION_TLS1_2");
		v13 |= !strcmp(t, "SSL_VERSION_TLS1_3");
	}
	if (!v12 && !v13)
		v12 = v13 = true;
	SSL_CTX_set_min_proto_version(ctx, v12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/* Forward-secret AEAD suites by default: ECDHE with AES-GCM or
	 * ChaCha20-Poly1305 in TLS 1.2 (no CBC, so no Lucky13; no static RSA key
	 * exchange) and OpenSSL's TLS 1.3 suites, which are all AEAD. */
	if (SSL_CTX_set_cipher_list(ctx, c12 ?: PX_TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, c13 ?: PX_TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
		*ret_err = ssl_errstr("cannot set the TLS cipher suites");
		return -EINVAL;
	}
	return 0;
}

/*
 * Builds a server SSL_CTX with the versions and suites of sslprofile @prof
 * (NULL: forward-secret AEAD suites of TLS 1.2 and 1.3) from a PEM
 * certificate chain and a PEM private key. Returns 0 and *ret (release with
 * SSL_CTX_free()), or -EINVAL with *ret_err (caller frees) saying what is wrong.
 */
int px_tls_ctx(const char *cert_pem, const char *key_pem, const json_t *prof, SSL_CTX **ret,
	       char **ret_err)
{
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	int r = -EINVAL;

	if (!cert_pem || !key_pem) {
		*ret_err = xstrdup("certificate or key missing");
		return -EINVAL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		*ret_err = ssl_errstr("SSL_CTX_new");
		return -ENOMEM;
	}
	if (px_tls_profile(ctx, prof, ret_err) < 0) {
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Partial writes and a moving buffer fit the relay's pending-bytes
	 * handling; releasing buffers keeps idle TLS connections small. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"clonelb", 7);

	bio = BIO_new_mem_buf(cert_pem, -1);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
		*ret_err = ssl_errstr("cannot use the certificate");
		goto out;
	}
	/* The rest of the PEM text is the chain. */
	for (X509 *ca; (ca = PEM_read_bio_X509(bio, NULL, NULL, NULL));)
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			break;
		}
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_mem_buf(key_pem, -1);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		*ret_err = ssl_errstr("cannot use the private key");
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*ret_err = ssl_errstr("the key does not match the certificate");
		goto out;
	}
	*ret = ctx;
	ctx = NULL;
	r = 0;
out:
	EVP_PKEY_free(key);
	X509_free(x);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return r;
}

/* Chooses the certificate whose names match the SNI; the first one otherwise. */
static int on_servername(SSL *ssl, int *al, void *arg)
{
	const struct px_vs *vs = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (!vs || !name || vs->nctx < 2)
		return SSL_TLSEXT_ERR_OK;
	for (unsigned i = 0; i < vs->nctx; i++) {
		X509 *x = SSL_CTX_get0_certificate(vs->ctx[i]);
		if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i)
				SSL_set_SSL_CTX(ssl, vs->ctx[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* With no server to talk to, end the handshake with an alert at once rather
 * than accept a connection that would be closed after it. */
static int on_client_hello(SSL *ssl, int *al, void *arg)
{
	const struct px_vs *vs = SSL_get_app_data(ssl);

	if (!vs || px_pool_has_usable(vs->pool))
		return SSL_CLIENT_HELLO_SUCCESS;
	atomic_fetch_add(&vs->st->refused, 1);
	*al = SSL_AD_HANDSHAKE_FAILURE;
	return SSL_CLIENT_HELLO_ERROR;
}

/*
 * Installs the callbacks on every context of @vs. Contexts are shared by
 * successive versions of a service, so the callbacks find the service through
 * the SSL object's app data (the session's own, referenced, service), never
 * through the context.
 */
void px_tls_setup_vs(struct px_vs *vs)
{
	for (unsigned i = 0; i < vs->nctx; i++) {
		SSL_CTX_set_tlsext_servername_callback(vs->ctx[i], on_servername);
		SSL_CTX_set_client_hello_cb(vs->ctx[i], on_client_hello, NULL);
	}
}

/* Adds every certificate of PEM text @pem to @store. Returns how many. */
static int add_cas(X509_STORE *store, const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	int n = 0;

	for (X509 *x; bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)); X509_free(x))
		n += X509_STORE_add_cert(store, x) == 1;
	ERR_clear_error();
	BIO_free(bio);
	return n;
}

/*
 * Builds the client SSL_CTX of a pool that speaks TLS to its servers: the
 * versions and suites of sslprofile @prof, the CAs of pkiprofile @pki (NULL:
 * server certificates are not verified), the client certificate @cert (an
 * sslkeyandcertificate, or NULL). Returns 0 and *ret (release with
 * SSL_CTX_free()), or -EINVAL with *ret_err (caller frees).
 */
int px_tls_client_ctx(const json_t *prof, const json_t *pki, const json_t *cert, SSL_CTX **ret,
		      char **ret_err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const json_t *e;
	size_t i;

	if (!ctx) {
		*ret_err = ssl_errstr("SSL_CTX_new");
		return -ENOMEM;
	}
	if (px_tls_profile(ctx, prof, ret_err) < 0)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	/* Sessions are kept per server by the caller (px_server.tls_sess). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	if (pki) {
		int n = 0;
		json_array_foreach(json_object_get(pki, "ca_certs"), i, e)
			n += add_cas(SSL_CTX_get_cert_store(ctx),
				     json_string_value(json_object_get(e, "certificate")));
		if (!n) {
			*ret_err = xstrdup("the PKI profile holds no usable CA certificate");
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cert) {
		const char *cp = json_string_value(
			json_object_get(json_object_get(cert, "certificate"), "certificate"));
		const char *kp = json_string_value(json_object_get(cert, "key"));
		BIO *b = cp ? BIO_new_mem_buf(cp, -1) : NULL;
		X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		EVP_PKEY *k = NULL;
		int ok = x && SSL_CTX_use_certificate(ctx, x) == 1;

		X509_free(x);
		BIO_free(b);
		b = kp ? BIO_new_mem_buf(kp, -1) : NULL;
		k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		ok = ok && k && SSL_CTX_use_PrivateKey(ctx, k) == 1 &&
		     SSL_CTX_check_private_key(ctx) == 1;
		EVP_PKEY_free(k);
		BIO_free(b);
		if (!ok) {
			*ret_err = ssl_errstr("cannot use the client certificate");
			goto fail;
		}
	}
	*ret = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -EINVAL;
}

/*
 * A client SSL object on connected socket @fd towards @srv of pool @p: SNI
 * when the pool sends it, the name (server_name) or the address the
 * certificate must carry when it verifies, the server's last session to
 * resume. Returns it (release with SSL_free()), or NULL.
 */
SSL *px_tls_connect_new(const struct px_pool *p, struct px_server *srv, int fd)
{
	SSL *ssl = SSL_new(p->sctx);
	char ip[ADDR_STRLEN];

	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	if (p->sni && SSL_set_tlsext_host_name(ssl, p->sni) != 1)
		goto fail;
	if (p->verify) {
		/* A name is checked against the certificate's DNS names, an
		 * address against its IP addresses. */
		int ok = p->server_name ? SSL_set1_host(ssl, p->server_name)
					: X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
									addr_ntop(&srv->addr, ip));
		if (ok != 1)
			goto fail;
	}
	pthread_mutex_lock(&srv->tls_lock);
	if (srv->tls_sess && srv->tls_ctx == p->sctx)
		SSL_set_session(ssl, srv->tls_sess);
	pthread_mutex_unlock(&srv->tls_lock);
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

/* Keeps the session of @ssl, whose handshake with @srv just completed, for
 * the next connection to it. */
void px_tls_keep_session(struct px_server *srv, SSL *ssl)
{
	SSL_SESSION *ss = SSL_get1_session(ssl);

	if (!ss)
		return;
	pthread_mutex_lock(&srv->tls_lock);
	SSL_SESSION_free(srv->tls_sess);
	srv->tls_sess = ss;
	srv->tls_ctx = SSL_get_SSL_CTX(ssl);
	pthread_mutex_unlock(&srv->tls_lock);
}

static const char *pj_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/*
 * Sets up TLS to the servers of pool @p (configured as @pj) from its
 * sslprofile @sp, pkiprofile @pk and client certificate @kc (each NULL when
 * the pool names none or the object is gone). What cannot be set up is kept
 * in p->tls_err and logged; so is a pool whose servers go unverified.
 */
void px_tls_pool_setup(struct px_pool *p, const json_t *pj, const json_t *sp, const json_t *pk,
		       const json_t *kc)
{
	const char *name = pj_str(pj, "server_name");
	char *err = NULL;

	p->tls = pj_str(pj, "ssl_profile_ref") != NULL;
	if (!p->tls)
		return;
	p->verify = pk != NULL;
	p->server_name = name && *name ? xstrdup(name) : NULL;
	/* SNI carries a host name, never an address (RFC 6066, section 3). */
	if (p->server_name && !json_is_false(json_object_get(pj, "sni_enabled")))
		p->sni = xstrdup(name);
	if (!sp)
		err = xstrdup("its sslprofile does not exist");
	else if (pj_str(pj, "pki_profile_ref") && !pk)
		err = xstrdup("its pkiprofile does not exist");
	else if (pj_str(pj, "ssl_key_and_certificate_ref") && !kc)
		err = xstrdup("its client certificate does not exist");
	else
		(void)px_tls_client_ctx(sp, pk, kc, &p->sctx, &err);
	if (err) {
		p->tls_err = xasprintf("TLS to the servers: %s", err);
		px_log("pool %s: %s; no connection is made", p->name, p->tls_err);
		free(err);
	} else if (!p->verify) {
		px_log("pool %s: TLS to the servers is not verified (no pki_profile_ref)", p->name);
	}
}

/* What the connections to the servers of TLS pool @p are: verified TLS, or
 * TLS whose server certificates nobody checks. New reference. */
json_t *px_tls_pool_json(const struct px_pool *p)
{
	json_t *t = json_object();

	json_object_set_new(t, "enabled", json_boolean(p->sctx != NULL));
	json_object_set_new(t, "verified", json_boolean(p->verify));
	json_object_set_new(t, "verification",
			    json_string(p->verify ? "server certificates are verified (pki_profile_ref)"
						  : "unverified: no pki_profile_ref"));
	json_object_set_new(t, "sni", p->sni ? json_string(p->sni) : json_null());
	json_object_set_new(t, "error", p->tls_err ? json_string(p->tls_err) : json_null());
	return t;
}
