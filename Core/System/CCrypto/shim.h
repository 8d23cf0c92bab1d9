// OpenSSL's libcrypto, which libcurl already loads: MD5 for the checksums GroupLens publishes.
#include <openssl/evp.h>
