#include "common/result.h"

namespace cf {

const char* ErrcName(Errc c) {
  switch (c) {
    case Errc::kOk: return "ok";
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kNotFound: return "not_found";
    case Errc::kAlreadyExists: return "already_exists";
    case Errc::kFailedPrecondition: return "failed_precondition";
    case Errc::kResourceExhausted: return "resource_exhausted";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kTimeout: return "timeout";
    case Errc::kIo: return "io";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace cf
