#include "ccurl.h"

CURLcode ccurl_set_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode ccurl_set_offset(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
CURLcode ccurl_set_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode ccurl_set_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
CURLcode ccurl_set_headers(CURL *h, struct curl_slist *headers) { return curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers); }

CURLcode ccurl_set_write_function(CURL *h, ccurl_io_callback cb, void *ctx) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
    return rc != CURLE_OK ? rc : curl_easy_setopt(h, CURLOPT_WRITEDATA, ctx);
}
CURLcode ccurl_set_read_function(CURL *h, ccurl_io_callback cb, void *ctx) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_READFUNCTION, cb);
    return rc != CURLE_OK ? rc : curl_easy_setopt(h, CURLOPT_READDATA, ctx);
}
CURLcode ccurl_set_header_function(CURL *h, ccurl_io_callback cb, void *ctx) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
    return rc != CURLE_OK ? rc : curl_easy_setopt(h, CURLOPT_HEADERDATA, ctx);
}
CURLcode ccurl_get_response_code(CURL *h, long *code) { return curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code); }

const CURLoption ccurl_opt_url = CURLOPT_URL;
const CURLoption ccurl_opt_customrequest = CURLOPT_CUSTOMREQUEST;
const CURLoption ccurl_opt_upload = CURLOPT_UPLOAD;
const CURLoption ccurl_opt_infilesize_large = CURLOPT_INFILESIZE_LARGE;
const CURLoption ccurl_opt_nobody = CURLOPT_NOBODY;
const CURLoption ccurl_opt_aws_sigv4 = CURLOPT_AWS_SIGV4;
const CURLoption ccurl_opt_userpwd = CURLOPT_USERPWD;
const CURLoption ccurl_opt_timeout_ms = CURLOPT_TIMEOUT_MS;
const CURLoption ccurl_opt_connecttimeout_ms = CURLOPT_CONNECTTIMEOUT_MS;
const CURLoption ccurl_opt_nosignal = CURLOPT_NOSIGNAL;
const CURLoption ccurl_opt_post = CURLOPT_POST;
const CURLoption ccurl_opt_postfieldsize_large = CURLOPT_POSTFIELDSIZE_LARGE;
const CURLoption ccurl_opt_httpget = CURLOPT_HTTPGET;
const CURLoption ccurl_opt_errorbuffer = CURLOPT_ERRORBUFFER;
const CURLoption ccurl_opt_expect_100_timeout_ms = CURLOPT_EXPECT_100_TIMEOUT_MS;
const CURLoption ccurl_opt_followlocation = CURLOPT_FOLLOWLOCATION;
const CURLoption ccurl_opt_maxredirs = CURLOPT_MAXREDIRS;
const CURLoption ccurl_opt_low_speed_limit = CURLOPT_LOW_SPEED_LIMIT;
const CURLoption ccurl_opt_low_speed_time = CURLOPT_LOW_SPEED_TIME;
