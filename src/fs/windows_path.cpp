#include "fs/windows_path.hpp"

#include <array>

#include "util/ascii.hpp"

namespace iocomp::fs::windows_path {
namespace {

char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
  }
  return true;
}

using util::is_digit;

bool forbidden_character(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u < 0x20) return true;
  switch (c) {
    case '<':
    case '>':
    case '"':
    case '|':
    case '?':
    case '*':
    case ':':
    case '\\':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_device_name(std::string_view component) {
  // Win32 looks at the part before the first dot, with trailing spaces removed.
  std::string_view base = component.substr(0, component.find('.'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  static constexpr std::array<std::string_view, 6> kFixed = {"CON", "PRN",    "AUX",
                                                             "NUL", "CONIN$", "CONOUT$"};
  for (const std::string_view device : kFixed) {
    if (equal_ignoring_ascii_case(base, device)) return true;
  }
  if (base.size() < 4) return false;
  const std::string_view prefix = base.substr(0, 3);
  if (!equal_ignoring_ascii_case(prefix, "COM") && !equal_ignoring_ascii_case(prefix, "LPT")) {
    return false;
  }
  const std::string_view number = base.substr(3);
  if (number.size() == 1 && is_digit(number[0])) return true;
  // Superscript one, two and three (U+00B9, U+00B2, U+00B3) in UTF-8.
  return number == "\xC2\xB9" || number == "\xC2\xB2" || number == "\xC2\xB3";
}

bool looks_like_short_name(std::string_view component) {
  const std::size_t dot = component.find('.');
  const std::string_view base = component.substr(0, dot);
  if (dot != std::string_view::npos) {
    const std::string_view extension = component.substr(dot + 1);
    if (extension.size() > 3 || extension.find('.') != std::string_view::npos) return false;
  }
  if (base.size() > 8) return false;
  const std::size_t tilde = base.rfind('~');
  if (tilde == std::string_view::npos || tilde == 0 || tilde + 1 == base.size()) return false;
  for (std::size_t i = tilde + 1; i < base.size(); ++i) {
    if (!is_digit(base[i])) return false;
  }
  return true;
}

NameVerdict check_request_name(std::string_view name, std::vector<std::string_view>& components) {
  if (name.find('\0') != std::string_view::npos) return NameVerdict::not_found;
  if (name.size() > kMaxRelativeName) return NameVerdict::name_too_long;
  const std::size_t first = components.size();
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      // Resolved here, by the name alone, as Win32 resolves it ("sub/../a.txt" is "a.txt");
      // one that would climb above the root is refused.
      if (components.size() == first) return NameVerdict::forbidden;
      components.pop_back();
      continue;
    }
    for (const char c : part) {
      if (forbidden_character(c)) return NameVerdict::forbidden;
    }
    if (part.back() == '.' || part.back() == ' ') return NameVerdict::forbidden;
    if (is_device_name(part) || looks_like_short_name(part)) return NameVerdict::forbidden;
    components.push_back(part);
  }
  return NameVerdict::ok;
}

std::optional<std::string_view> beneath(std::string_view root_final, std::string_view final_path) {
  while (root_final.size() > 1 && root_final.back() == '\\') root_final.remove_suffix(1);
  if (final_path.substr(0, root_final.size()) != root_final) return std::nullopt;
  std::string_view rest = final_path.substr(root_final.size());
  if (rest.empty()) return rest;
  // "C:\srv" must not admit "C:\srv2\x": what follows the root is a separator.
  if (rest.front() != '\\' && root_final.back() != '\\') return std::nullopt;
  while (!rest.empty() && rest.front() == '\\') rest.remove_prefix(1);
  return rest;
}

bool has_hidden_component(std::string_view backslash_path) {
  std::size_t start = 0;
  while (start < backslash_path.size()) {
    std::size_t end = backslash_path.find('\\', start);
    if (end == std::string_view::npos) end = backslash_path.size();
    const std::string_view part = backslash_path.substr(start, end - start);
    if (!part.empty() && part.front() == '.' && part != "." && part != "..") return true;
    start = end + 1;
  }
  return false;
}

std::string join(std::string_view root_final, const std::vector<std::string_view>& components) {
  std::string path(root_final);
  for (const std::string_view part : components) {
    if (path.empty() || path.back() != '\\') path.push_back('\\');
    path.append(part);
  }
  return path;
}

}  // namespace iocomp::fs::windows_path
