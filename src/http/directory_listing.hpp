#pragma once
// HTML index of a directory. Pure: the caller reads the directory.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace iocomp::http {

struct DirectoryEntry {
  std::string name;
  bool is_directory = false;
  std::uint64_t size = 0;
  std::time_t modified = 0;
};

// url_path is the decoded path of the directory as the client sees it, starting and ending
// with '/'. Entries are sorted (directories first, then by name); names are HTML-escaped in
// text and percent-encoded in links; a parent link unless url_path is "/".
std::string render_directory_listing(std::string_view url_path,
                                     std::vector<DirectoryEntry> entries);

}  // namespace iocomp::http
