// Request ids: random UUID v4 strings ("6c1f1a52-0d3e-4f57-9d39-2b8f0c7e4a11").
#pragma once

#include <string>

namespace cf::api {

// A fresh UUID v4 from OpenSSL's CSPRNG. Thread-safe.
std::string NewRequestId();

}  // namespace cf::api
