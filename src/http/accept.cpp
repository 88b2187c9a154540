#include "http/accept.hpp"

#include "http/field_list.hpp"

namespace iocomp::http {

int accept_quality(std::string_view accept, std::string_view type) {
  if (trim_ows(accept).empty()) return 1000;
  const std::size_t slash = type.find('/');
  const std::string_view main_type = type.substr(0, slash);
  const std::string_view sub_type = type.substr(slash + 1);
  int best_specificity = -1;
  int best_quality = 0;
  while (!accept.empty()) {
    const std::size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    // media-range *( OWS ";" OWS parameter ): the q parameter separates media type parameters
    // from accept extensions; parameters other than q do not change the match here.
    const std::size_t semicolon = range.find(';');
    const std::string_view media = trim_ows(range.substr(0, semicolon));
    int quality = 1000;
    bool malformed = false;
    std::string_view params =
        semicolon == std::string_view::npos ? std::string_view{} : range.substr(semicolon + 1);
    while (!params.empty()) {
      const std::size_t next = params.find(';');
      const std::string_view param = trim_ows(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
      const std::size_t eq = param.find('=');
      if (eq == std::string_view::npos || !equals_ignore_case(trim_ows(param.substr(0, eq)), "q"))
        continue;
      quality = parse_qvalue(trim_ows(param.substr(eq + 1)));
      if (quality < 0) malformed = true;
      break;
    }
    const std::size_t media_slash = media.find('/');
    if (malformed || media_slash == std::string_view::npos) continue;
    const std::string_view range_type = media.substr(0, media_slash);
    const std::string_view range_sub = media.substr(media_slash + 1);
    int specificity;
    if (range_type == "*" && range_sub == "*") {
      specificity = 0;
    } else if (equals_ignore_case(range_type, main_type) && range_sub == "*") {
      specificity = 1;
    } else if (equals_ignore_case(range_type, main_type) &&
               equals_ignore_case(range_sub, sub_type)) {
      specificity = 2;
    } else {
      continue;
    }
    // The most specific range decides; among equally specific ones, the first.
    if (specificity > best_specificity) {
      best_specificity = specificity;
      best_quality = quality;
    }
  }
  return best_quality;
}

bool prefers_json(std::string_view accept) {
  const int json = accept_quality(accept, "application/json");
  return json > 0 && json > accept_quality(accept, "text/html");
}

}  // namespace iocomp::http
