#include "http/percent_decode.hpp"

#include "util/ascii.hpp"

namespace iocomp::http {
namespace {

constexpr int kBadRequest = 400;

using util::hex_value;

bool starts_with_ci(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_prefix[i]) return false;
  }
  return true;
}

// Bytes that must never reach the file system layer, whether sent raw or percent-encoded:
// NUL truncates C strings, backslash is a separator on other systems, controls are never
// part of a legitimate name we serve.
bool forbidden_byte(unsigned char c) {
  return c < 0x20 || c == 0x7f || c == '\\';
}

// Builds the normalized relative path segment by segment, so "." and ".." are resolved as
// soon as their segment ends.
class PathBuilder {
 public:
  explicit PathBuilder(std::size_t capacity) { path_.reserve(capacity); }

  void append(char c) {
    if (!in_segment_) {
      segment_start_ = path_.size();
      if (!path_.empty()) path_.push_back('/');
      in_segment_ = true;
    }
    path_.push_back(c);
  }

  // Returns false when ".." climbs above the root.
  bool end_segment() {
    if (!in_segment_) return true;
    in_segment_ = false;
    const std::size_t text_start = segment_start_ + (segment_start_ == 0 ? 0 : 1);
    const std::string_view text(path_.data() + text_start, path_.size() - text_start);
    if (text == ".") {
      path_.resize(segment_start_);
    } else if (text == "..") {
      path_.resize(segment_start_);
      if (path_.empty()) return false;
      const std::size_t slash = path_.rfind('/');
      path_.resize(slash == std::string::npos ? 0 : slash);
    }
    return true;
  }

  std::string take() { return std::move(path_); }

 private:
  std::string path_;
  std::size_t segment_start_ = 0;
  bool in_segment_ = false;
};

}  // namespace

std::variant<DecodedPath, int> decode_request_path(std::string_view target) {
  std::string_view path = target;
  std::size_t scheme_length = 0;
  if (starts_with_ci(path, "http://")) {
    scheme_length = 7;
  } else if (starts_with_ci(path, "https://")) {
    scheme_length = 8;
  }
  if (scheme_length != 0) {
    path.remove_prefix(scheme_length);
    const std::size_t path_start = path.find_first_of("/?#");
    // RFC 9112 3.2.2: an empty path in absolute-form means "/".
    if (path_start == std::string_view::npos || path[path_start] != '/')
      return DecodedPath{"", true};
    path.remove_prefix(path_start);
  }
  // Cut before decoding so that an encoded '?' or '#' stays part of the file name.
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty() || path.front() != '/') return kBadRequest;

  PathBuilder builder(path.size());
  bool ended_with_slash = false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return kBadRequest;
      const int high = hex_value(path[i + 1]);
      const int low = hex_value(path[i + 2]);
      if (high < 0 || low < 0) return kBadRequest;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    if (forbidden_byte(static_cast<unsigned char>(c))) return kBadRequest;
    ended_with_slash = c == '/';
    if (c == '/') {
      if (!builder.end_segment()) return kBadRequest;
    } else {
      builder.append(c);
    }
  }
  if (!builder.end_segment()) return kBadRequest;

  DecodedPath result;
  // Only a literal final '/' counts: "/a/b/.." is left without one so that the caller redirects
  // to the canonical "/a/", against which relative links in a listing resolve correctly.
  result.trailing_slash = ended_with_slash;
  result.relative = builder.take();
  return result;
}

std::string percent_encode_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    }
  }
  return out;
}

}  // namespace iocomp::http
