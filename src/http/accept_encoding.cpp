#include "http/accept_encoding.hpp"

#include <array>

#include "http/field_list.hpp"

namespace iocomp::http {
namespace {

constexpr int kUnlisted = -1;

struct Element {
  std::string_view coding;
  int q = 1000;
};

// One list element: coding [ OWS ";" OWS "q=" qvalue ]. False when malformed.
bool parse_element(std::string_view text, Element& out) {
  text = trim_ows(text);
  std::size_t i = 0;
  while (i < text.size() && is_tchar(text[i])) ++i;
  if (i == 0) return false;
  out.coding = text.substr(0, i);
  std::string_view rest = trim_ows(text.substr(i));
  if (rest.empty()) return true;
  if (rest.front() != ';') return false;
  rest = trim_ows(rest.substr(1));
  if (rest.size() < 2 || (rest[0] != 'q' && rest[0] != 'Q') || rest[1] != '=') return false;
  out.q = parse_qvalue(rest.substr(2));
  return out.q >= 0;
}

}  // namespace

std::string_view coding_token(Coding coding) {
  switch (coding) {
    case Coding::br:
      return "br";
    case Coding::zstd:
      return "zstd";
    case Coding::gzip:
      return "gzip";
  }
  return "identity";
}

std::string_view coding_suffix(Coding coding) {
  switch (coding) {
    case Coding::br:
      return ".br";
    case Coding::zstd:
      return ".zst";
    case Coding::gzip:
      return ".gz";
  }
  return "";
}

std::optional<Coding> choose_coding(std::string_view accept_encoding, CodingMask available) {
  if (accept_encoding.empty() || available == 0) return std::nullopt;
  std::array<int, kCodingCount> listed;
  listed.fill(kUnlisted);
  int identity = kUnlisted;
  int star = kUnlisted;
  // The first occurrence of a coding counts, as for the repeated header fields.
  const auto note = [](int& slot, int q) {
    if (slot == kUnlisted) slot = q;
  };
  std::size_t start = 0;
  while (start <= accept_encoding.size()) {
    std::size_t end = accept_encoding.find(',', start);
    if (end == std::string_view::npos) end = accept_encoding.size();
    Element e;
    if (parse_element(accept_encoding.substr(start, end - start), e)) {
      if (equals_ignore_case(e.coding, "br")) {
        note(listed[static_cast<std::size_t>(Coding::br)], e.q);
      } else if (equals_ignore_case(e.coding, "zstd")) {
        note(listed[static_cast<std::size_t>(Coding::zstd)], e.q);
      } else if (equals_ignore_case(e.coding, "gzip") || equals_ignore_case(e.coding, "x-gzip")) {
        note(listed[static_cast<std::size_t>(Coding::gzip)], e.q);
      } else if (equals_ignore_case(e.coding, "identity")) {
        note(identity, e.q);
      } else if (e.coding == "*") {
        note(star, e.q);
      }
    }
    start = end + 1;
  }
  // Unlisted identity: acceptable, below any positive q-value (so an accepted coding wins).
  const int identity_q = identity != kUnlisted ? identity : (star != kUnlisted ? star : 0);
  std::optional<Coding> best;
  int best_q = 0;
  for (std::size_t i = 0; i < kCodingCount; ++i) {
    const auto coding = static_cast<Coding>(i);
    if ((available & coding_bit(coding)) == 0) continue;
    const int q = listed[i] != kUnlisted ? listed[i] : (star != kUnlisted ? star : 0);
    if (q > best_q) {
      best = coding;
      best_q = q;
    }
  }
  if (best && best_q < identity_q) return std::nullopt;
  return best;
}

}  // namespace iocomp::http
