/* rules_tls.c: the rules of certificates and TLS and PKI profiles, checked with OpenSSL, and the fields parsed out of a certificate. */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/rules_int.h"
#include "lib/util.h"

/* The parts of certificate name @n, as the reference's SSLCertificateDescription. */
static json_t *cert_name(X509_NAME *n)
{
	static const struct {
		const char *field;
		int nid;
	} parts[] = {
		{"common_name", NID_commonName},	  {"organization", NID_organizationName},
		{"organization_unit", NID_organizationalUnitName},
		{"locality", NID_localityName},	  {"state", NID_stateOrProvinceName},
		{"country", NID_countryName},	  {"email_address", NID_pkcs9_emailAddress},
	};
	json_t *o = json_object();
	BIO *b = BIO_new(BIO_s_mem());
	char buf[256], *dn;
	long len;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (X509_NAME_get_text_by_NID(n, parts[i].nid, buf, sizeof(buf)) > 0)
			json_object_set_new(o, parts[i].field, json_string(buf));
	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &dn);
	if (len > 0 && len < 256)
		json_object_set_new(o, "distinguished_name", json_stringn(dn, (size_t)len));
	BIO_free(b);
	return o;
}

static json_t *cert_time(const ASN1_TIME *t)
{
	struct tm tm;
	char buf[32];

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return json_string("");
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return json_string(buf);
}

/* Sets the fields the reference parses out of a certificate in @c (the
 * "certificate" object): what a client sent for them is replaced. */
static void cert_describe(json_t *c, X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char fp[3 * EVP_MAX_MD_SIZE + 1] = "";
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *serial = bn ? BN_bn2dec(bn) : NULL;

	size_t at = 0;

	X509_digest(x, EVP_sha1(), md, &mdlen);
	for (unsigned int i = 0; i < mdlen; i++)
		at += (size_t)sprintf(fp + at, "%s%02X", i ? ":" : "", md[i]);
	json_object_set_new(c, "subject", cert_name(X509_get_subject_name(x)));
	json_object_set_new(c, "issuer", cert_name(X509_get_issuer_name(x)));
	json_object_set_new(c, "not_before", cert_time(X509_get0_notBefore(x)));
	json_object_set_new(c, "not_after", cert_time(X509_get0_notAfter(x)));
	json_object_set_new(c, "serial_number", json_string(serial ? serial : ""));
	json_object_set_new(c, "fingerprint", json_string(fp));
	json_object_set_new(c, "signature_algorithm",
			    json_string(OBJ_nid2ln(X509_get_signature_nid(x)) ?: ""));
	json_object_set_new(c, "self_signed", json_boolean(X509_check_issued(x, x) == X509_V_OK));
	OPENSSL_free(serial);
	BN_free(bn);
}

static X509 *cert_parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

/* Certificates before the reference's shape held the PEM text itself. */
void cfg_rules_upgrade_sslkeyandcertificate(json_t *obj)
{
	json_t *c = json_object_get(obj, "certificate");
	X509 *x;

	if (!json_is_string(c))
		return;
	x = cert_parse(json_string_value(c));
	c = json_pack("{s:O}", "certificate", c);
	if (x)
		cert_describe(c, x);
	X509_free(x);
	json_object_set_new(obj, "certificate", c);
}

int cfg_rules_sslkeyandcertificate(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	json_t *c = json_object_get(obj, "certificate");
	const char *key_pem = rules_str(obj, "key");
	X509 *x = cert_parse(rules_str(c, "certificate"));
	EVP_PKEY *k = NULL;
	BIO *b;
	int r = 0;

	if (!x) {
		*ret_err = xasprintf("certificate.certificate: not a valid PEM certificate");
		return -EINVAL;
	}
	cert_describe(c, x);
	b = BIO_new_mem_buf(key_pem, -1);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!k) {
		*ret_err = xasprintf("key: not a valid unencrypted PEM private key");
		r = -EINVAL;
	} else if (X509_check_private_key(x, k) != 1) {
		*ret_err = xasprintf("key: does not match the certificate");
		r = -EINVAL;
	}
	EVP_PKEY_free(k);
	X509_free(x);
	return r;
}

/* Whether OpenSSL takes the cipher string in @field of @obj, tried on a
 * scratch context: 0 when it selects at least one suite. */
static int check_suites(const json_t *obj, const char *field, char **ret_err)
{
	const json_t *v = json_object_get(obj, field);
	SSL_CTX *ctx;
	int ok;

	if (!json_is_string(v))
		return 0;
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		*ret_err = xasprintf("%s: cannot check it (out of memory)", field);
		return -ENOMEM;
	}
	ok = strcmp(field, "ciphersuites") == 0
		     ? SSL_CTX_set_ciphersuites(ctx, json_string_value(v))
		     : SSL_CTX_set_cipher_list(ctx, json_string_value(v));
	/* An empty TLS 1.3 list is accepted by OpenSSL and offers nothing. */
	if (ok == 1 && !*json_string_value(v))
		ok = 0;
	ERR_clear_error();
	SSL_CTX_free(ctx);
	if (ok == 1)
		return 0;
	*ret_err = xasprintf("%s: '%s' is not a cipher list OpenSSL accepts (no suite selected)",
			     field, json_string_value(v));
	return -EINVAL;
}

int cfg_rules_sslprofile(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	int r = check_suites(obj, "accepted_ciphers", ret_err);

	return r < 0 ? r : check_suites(obj, "ciphersuites", ret_err);
}

int cfg_rules_pkiprofile(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(obj, "ca_certs"), i, e)
	{
		X509 *x = cert_parse(rules_str(e, "certificate"));
		char *shown;

		if (x) {
			X509_free(x);
			continue;
		}
		ERR_clear_error();
		shown = json_short(json_object_get(e, "certificate"));
		*ret_err = xasprintf("ca_certs[%zu].certificate: not a valid PEM certificate (got %s)",
				     i + 1, shown);
		free(shown);
		return -EINVAL;
	}
	return 0;
}
