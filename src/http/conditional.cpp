#include "http/conditional.hpp"

#include <fmt/format.h>

#include <optional>

#include "http/field_list.hpp"
#include "http/http_date.hpp"

namespace iocomp::http {
namespace {

struct EntityTag {
  bool weak = false;
  std::string_view opaque;  // including the quotes
};

// Reads one entity-tag ([W/] DQUOTE *etagc DQUOTE) from the front of `s`.
std::optional<EntityTag> take_entity_tag(std::string_view& s) {
  EntityTag tag;
  if (s.substr(0, 2) == "W/") {
    tag.weak = true;
    s.remove_prefix(2);
  }
  if (s.empty() || s.front() != '"') return std::nullopt;
  std::size_t end = 1;
  while (end < s.size() && s[end] != '"') {
    const auto c = static_cast<unsigned char>(s[end]);
    if (c < 0x21 || c == 0x7f) return std::nullopt;  // not etagc
    ++end;
  }
  if (end == s.size()) return std::nullopt;
  tag.opaque = s.substr(0, end + 1);
  s.remove_prefix(end + 1);
  return tag;
}

std::optional<EntityTag> parse_single_tag(std::string_view s) {
  s = trim_ows(s);
  auto tag = take_entity_tag(s);
  if (!tag || !s.empty()) return std::nullopt;
  return tag;
}

enum class Comparison { strong, weak };

// True when the field is "*" or lists a tag matching `current`. A malformed list matches
// nothing: for If-None-Match that means a full response, for If-Match a 412, both safe.
bool list_matches(std::string_view field, std::string_view current, Comparison comparison) {
  field = trim_ows(field);
  if (field == "*") return true;
  const auto current_tag = parse_single_tag(current);
  if (!current_tag) return false;

  bool matched = false;
  while (true) {
    while (!field.empty() &&
           (field.front() == ',' || field.front() == ' ' || field.front() == '\t')) {
      field.remove_prefix(1);
    }
    if (field.empty()) return matched;
    const auto tag = take_entity_tag(field);
    if (!tag) return false;
    if (tag->opaque == current_tag->opaque &&
        (comparison == Comparison::weak || (!tag->weak && !current_tag->weak))) {
      matched = true;
    }
    field = trim_ows(field);
    if (!field.empty() && field.front() != ',') return false;
  }
}

}  // namespace

std::string make_etag(std::uint64_t inode, std::uint64_t size, std::int64_t mtime_ns) {
  return fmt::format("\"{:x}-{:x}-{:x}\"", inode, size, static_cast<std::uint64_t>(mtime_ns));
}

Precondition evaluate_preconditions(const Request& request, const Validators& validators) {
  // RFC 9110 13.2.2, steps 1 to 4.
  if (!request.if_match.empty()) {
    if (!list_matches(request.if_match, validators.etag, Comparison::strong)) {
      return Precondition::failed;
    }
  } else if (!request.if_unmodified_since.empty()) {
    const auto date = parse_http_date(request.if_unmodified_since);
    if (date && validators.last_modified > *date) return Precondition::failed;
  }

  const bool safe = request.method_kind != Method::other;
  if (!request.if_none_match.empty()) {
    if (list_matches(request.if_none_match, validators.etag, Comparison::weak)) {
      return safe ? Precondition::not_modified : Precondition::failed;
    }
  } else if (!request.if_modified_since.empty() && safe) {
    const auto date = parse_http_date(request.if_modified_since);
    if (date && validators.last_modified <= *date) return Precondition::not_modified;
  }
  return Precondition::proceed;
}

bool if_range_allows_partial(std::string_view if_range, const Validators& validators) {
  if_range = trim_ows(if_range);
  if (if_range.empty()) return true;
  if (if_range.front() == '"' || if_range.substr(0, 2) == "W/") {
    const auto tag = parse_single_tag(if_range);
    const auto current = parse_single_tag(validators.etag);
    // RFC 9110 13.1.5: If-Range requires a strong comparison.
    return tag && current && !tag->weak && !current->weak && tag->opaque == current->opaque;
  }
  const auto date = parse_http_date(if_range);
  return date && *date == validators.last_modified && validators.last_modified < validators.date;
}

}  // namespace iocomp::http
