#pragma once
// File-name extension to media type, from a mime.types table. Pure apart from load_file.
#include <string>
#include <string_view>
#include <unordered_map>

namespace iocomp::http {

class MimeTypes {
 public:
  static constexpr std::string_view kDefault = "application/octet-stream";

  // Parses the text of a mime.types file ("type ext ext ..." lines, '#' comments).
  static MimeTypes parse(std::string_view table_text);
  // Reads the file (Debian's media-types: /etc/mime.types); a small built-in table when absent.
  static MimeTypes load_file(const std::string& path = "/etc/mime.types");

  // Case-insensitive on the extension; kDefault when there is none or no match.
  std::string_view lookup(std::string_view file_name) const;

 private:
  std::unordered_map<std::string, std::string> by_extension_;
};

}  // namespace iocomp::http
