#include "http/mime_types.hpp"

#include <exception>
#include <fstream>
#include <iterator>

namespace iocomp::http {
namespace {

// Used when /etc/mime.types is missing (minimal containers without the media-types package).
constexpr std::string_view kBuiltinTable =
    "text/html html htm\n"
    "text/plain txt\n"
    "text/css css\n"
    "text/javascript js\n"
    "application/json json\n"
    "image/png png\n"
    "image/jpeg jpg jpeg\n"
    "image/gif gif\n"
    "image/svg+xml svg\n"
    "application/pdf pdf\n"
    "application/zip zip\n"
    "application/gzip gz\n"
    "application/x-tar tar\n"
    "application/x-xz xz\n"
    "application/x-iso9660-image iso\n"
    "video/mp4 mp4\n"
    "application/wasm wasm\n";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

MimeTypes MimeTypes::parse(std::string_view table_text) {
  MimeTypes types;
  while (!table_text.empty()) {
    const std::size_t newline = table_text.find('\n');
    std::string_view line = table_text.substr(0, newline);
    table_text.remove_prefix(newline == std::string_view::npos ? table_text.size() : newline + 1);
    line = line.substr(0, line.find('#'));

    std::string_view type;
    while (true) {
      while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
      if (line.empty()) break;
      std::size_t word_end = 0;
      while (word_end < line.size() && !is_space(line[word_end])) ++word_end;
      const std::string_view word = line.substr(0, word_end);
      line.remove_prefix(word_end);
      if (type.empty()) {
        type = word;
      } else {
        // First definition wins: Debian's table lists e.g. "sh" under application/x-sh before
        // text/x-sh, and the former is the safer answer for a download server.
        types.by_extension_.emplace(to_lower(word), std::string(type));
      }
    }
  }
  return types;
}

MimeTypes MimeTypes::load_file(const std::string& path) {
  // libstdc++ throws from filebuf::underflow on a read error (e.g. the path is a directory),
  // and a server must not fail to start over a missing nicety.
  try {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      if (!in.bad()) {
        MimeTypes types = parse(text);
        if (!types.by_extension_.empty()) return types;
      }
    }
  } catch (const std::exception&) {
  }
  return parse(kBuiltinTable);
}

std::string_view MimeTypes::lookup(std::string_view file_name) const {
  const std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const std::size_t dot = file_name.rfind('.');
  // A leading dot marks a hidden file (".bashrc"), not an extension.
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == file_name.size()) return kDefault;
  const auto it = by_extension_.find(to_lower(file_name.substr(dot + 1)));
  return it == by_extension_.end() ? kDefault : std::string_view(it->second);
}

}  // namespace iocomp::http
