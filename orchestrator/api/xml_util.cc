#include "orchestrator/api/xml_util.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace cf::api {
namespace {

// Howard Hinnant's civil-calendar algorithms (public domain), proleptic Gregorian, UTC.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t y;
  unsigned m, d;
};

constexpr Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Parses exactly `n` decimal digits at text[pos].
bool Digits(std::string_view text, size_t pos, size_t n, unsigned* out) {
  if (pos + n > text.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *out = v;
  return true;
}

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if invalid.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t v;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, v = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, v = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

bool IsXmlSafeCodePoint(uint32_t cp) {
  return cp >= 0x20 && cp != 0x7F && cp != 0xFFFE && cp != 0xFFFF;
}

}  // namespace

pugi::xml_node AppendText(pugi::xml_node node, const char* name, std::string_view value) {
  auto child = node.append_child(name);
  child.text().set(std::string(value).c_str());
  return child;
}

pugi::xml_node AppendBool(pugi::xml_node node, const char* name, bool value) {
  return AppendText(node, name, value ? "true" : "false");
}

pugi::xml_node AppendInt(pugi::xml_node node, const char* name, int64_t value) {
  return AppendText(node, name, std::to_string(value));
}

pugi::xml_node AppendDouble(pugi::xml_node node, const char* name, double value) {
  return AppendText(node, name, FormatDouble(value));
}

pugi::xml_node AppendTimestamp(pugi::xml_node node, const char* name, int64_t epoch_ms) {
  return AppendText(node, name, FormatTimestampMs(epoch_ms));
}

pugi::xml_node AppendList(pugi::xml_node node, const char* wrapper, const char* item,
                          const std::vector<std::string>& values) {
  auto w = node.append_child(wrapper);
  for (const auto& v : values) AppendText(w, item, v);
  return w;
}

std::string FormatDouble(double value) {
  if (!std::isfinite(value) || value == 0.0) return "0";
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

std::string FormatTimestampMs(int64_t epoch_ms) {
  // Floor division so that times before 1970 still format correctly.
  int64_t secs = epoch_ms / 1000;
  int64_t ms = epoch_ms % 1000;
  if (ms < 0) ms += 1000, secs -= 1;
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) sod += 86400, days -= 1;
  const Civil c = CivilFromDays(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(c.y), c.m, c.d, static_cast<long long>(sod / 3600),
                static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60),
                static_cast<long long>(ms));
  return buf;
}

std::optional<int64_t> ParseTimestampMs(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS
  unsigned y, mo, d, h, mi, s;
  if (t.size() < 20 || !Digits(t, 0, 4, &y) || t[4] != '-' || !Digits(t, 5, 2, &mo) ||
      t[7] != '-' || !Digits(t, 8, 2, &d) || t[10] != 'T' || !Digits(t, 11, 2, &h) ||
      t[13] != ':' || !Digits(t, 14, 2, &mi) || t[16] != ':' || !Digits(t, 17, 2, &s)) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t ms = 0;
  if (t[pos] == '.') {
    ++pos;
    size_t n = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (n < 3) ms = ms * 10 + (t[pos] - '0');
      ++n, ++pos;
    }
    if (n == 0 || n > 9) return std::nullopt;
    for (size_t k = n; k < 3; ++k) ms *= 10;
  }
  if (pos + 1 != t.size() || t[pos] != 'Z') return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return std::nullopt;
  }
  const int64_t days = DaysFromCivil(y, mo, d);
  return ((days * 86400) + h * 3600 + mi * 60 + s) * 1000 + ms;
}

bool IsXmlSafeText(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = DecodeUtf8(text, i, &cp);
    if (n == 0 || !IsXmlSafeCodePoint(cp)) return false;
    i += n;
  }
  return true;
}

std::string SanitizeXmlText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = DecodeUtf8(text, i, &cp);
    if (n == 0) {
      out.push_back('?');
      ++i;
      continue;
    }
    if (IsXmlSafeCodePoint(cp)) {
      out.append(text.substr(i, n));
    } else {
      out.push_back('?');
    }
    i += n;
  }
  return out;
}

}  // namespace cf::api
