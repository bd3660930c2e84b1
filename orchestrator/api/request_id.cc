#include "orchestrator/api/request_id.h"

#include <openssl/rand.h>

#include <cstdio>
#include <random>

namespace cf::api {

std::string NewRequestId() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    // RAND_bytes only fails when the OS entropy source is unavailable; ids need uniqueness,
    // not secrecy, so fall back to std::random_device.
    thread_local std::mt19937_64 gen{std::random_device{}()};
    for (auto& x : b) x = static_cast<unsigned char>(gen());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

}  // namespace cf::api
