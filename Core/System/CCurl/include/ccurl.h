// Typed, non-variadic wrappers around libcurl's variadic setopt/getinfo, which Swift cannot call.
#ifndef CCURL_H
#define CCURL_H
#include <curl/curl.h>
#include <stddef.h>

typedef size_t (*ccurl_io_callback)(char *buffer, size_t size, size_t count, void *context);

CURLcode ccurl_set_long(CURL *handle, CURLoption option, long value);
CURLcode ccurl_set_offset(CURL *handle, CURLoption option, curl_off_t value);
CURLcode ccurl_set_string(CURL *handle, CURLoption option, const char *value);
CURLcode ccurl_set_pointer(CURL *handle, CURLoption option, void *value);
CURLcode ccurl_set_headers(CURL *handle, struct curl_slist *headers);
CURLcode ccurl_set_write_function(CURL *handle, ccurl_io_callback callback, void *context);
CURLcode ccurl_set_read_function(CURL *handle, ccurl_io_callback callback, void *context);
CURLcode ccurl_set_header_function(CURL *handle, ccurl_io_callback callback, void *context);
CURLcode ccurl_get_response_code(CURL *handle, long *code);

/* Option constants re-exported as plain values (some are macros Swift does not import). */
extern const CURLoption ccurl_opt_url;
extern const CURLoption ccurl_opt_customrequest;
extern const CURLoption ccurl_opt_upload;
extern const CURLoption ccurl_opt_infilesize_large;
extern const CURLoption ccurl_opt_nobody;
extern const CURLoption ccurl_opt_aws_sigv4;
extern const CURLoption ccurl_opt_userpwd;
extern const CURLoption ccurl_opt_timeout_ms;
extern const CURLoption ccurl_opt_connecttimeout_ms;
extern const CURLoption ccurl_opt_nosignal;
extern const CURLoption ccurl_opt_post;
extern const CURLoption ccurl_opt_postfieldsize_large;
extern const CURLoption ccurl_opt_httpget;
extern const CURLoption ccurl_opt_errorbuffer;
extern const CURLoption ccurl_opt_expect_100_timeout_ms;
extern const CURLoption ccurl_opt_followlocation;
extern const CURLoption ccurl_opt_maxredirs;
extern const CURLoption ccurl_opt_low_speed_limit;
extern const CURLoption ccurl_opt_low_speed_time;

#endif
