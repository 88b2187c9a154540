#pragma once
// Index of a directory as an HTML page or a JSON document, rendered a bounded piece at a time.
// Pure: the caller reads the directory and keeps the entries it will show.
#include <cstddef>
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

enum class ListingSort : std::uint8_t { name, size, date };
enum class ListingFormat : std::uint8_t { html, json };

struct ListingOrder {
  ListingSort sort = ListingSort::name;
  bool descending = false;
};

// ?sort=name|size|date and ?order=asc|desc from a raw query; anything else is the default
// (name, ascending), never an error.
ListingOrder listing_order_from_query(std::string_view query);

// The order of a listing, a strict weak order: directories first, then by the sort key in the
// requested direction, ties by name ascending (bytewise), so the order is total for distinct
// names.
bool listed_before(const DirectoryEntry& a, const DirectoryEntry& b, ListingOrder order);

// Appends `text` as a JSON string (with the quotes). Bytes that are not part of a valid UTF-8
// sequence each become U+FFFD (written "\ufffd"): the document stays valid JSON whatever a file
// name holds. Quotes, backslashes and control characters are escaped.
void append_json_string(std::string& out, std::string_view text);

// Produces one listing document a piece at a time: `next` appends the next piece to `out`,
// stopping after the row that takes the piece to `max_bytes` or more (a row is at most a few
// KiB), so a caller sending each piece holds one piece in memory, however many entries there
// are.
//
// url_path is the decoded path of the directory as the client sees it, starting and ending with
// '/'. `entries` must already be in `order` (sort with listed_before) and free of "." and "..".
// `omitted` entries beyond `cap` were left out; the document says so (the HTML page names the
// flag that raises the cap). HTML: names are HTML-escaped in text and percent-encoded in links, a
// parent link unless url_path is "/", column headers link to the other orders. JSON: per entry
// name, href (the percent-encoded relative link, exact for any name), type, size (files) and
// mtime (RFC 3339, UTC).
class ListingRenderer {
 public:
  ListingRenderer(ListingFormat format, std::string url_path, ListingOrder order,
                  std::vector<DirectoryEntry> entries, std::uint64_t omitted, std::uint64_t cap);

  // True while more of the document remains.
  bool next(std::string& out, std::size_t max_bytes);

 private:
  void append_head(std::string& out) const;
  void append_row(std::string& out, const DirectoryEntry& entry, bool first) const;
  void append_tail(std::string& out) const;

  ListingFormat format_;
  std::string url_path_;
  ListingOrder order_;
  std::vector<DirectoryEntry> entries_;
  std::uint64_t omitted_;
  std::uint64_t cap_;
  std::size_t next_row_ = 0;
  bool head_done_ = false;
  bool done_ = false;
};

// The whole HTML page at once (for small listings and tests): drops ".", ".." and empty names,
// sorts in `order`, shows every entry.
std::string render_directory_listing(std::string_view url_path, std::vector<DirectoryEntry> entries,
                                     ListingOrder order = {},
                                     ListingFormat format = ListingFormat::html);

}  // namespace iocomp::http
