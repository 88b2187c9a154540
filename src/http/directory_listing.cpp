#include "http/directory_listing.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "http/http_date.hpp"
#include "http/percent_decode.hpp"
#include "http/query.hpp"

namespace iocomp::http {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94";

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
}

// Integer arithmetic throughout: no locale-dependent decimal point, no float rounding surprises.
void append_size(std::string& out, std::uint64_t size) {
  static constexpr std::array<std::string_view, 7> kUnits = {"B",   "KiB", "MiB", "GiB",
                                                             "TiB", "PiB", "EiB"};
  if (size < 1024) {
    out += std::to_string(size);
    out += " B";
    return;
  }
  std::size_t unit = 1;
  while (unit + 1 < kUnits.size() && size >> (10 * (unit + 1)) != 0) ++unit;
  while (true) {
    const unsigned shift = static_cast<unsigned>(10 * unit);
    const std::uint64_t divisor = std::uint64_t{1} << shift;
    std::uint64_t whole = size >> shift;
    // remainder < 2^60, so remainder * 10 fits in 64 bits.
    const std::uint64_t remainder = size & (divisor - 1);
    std::uint64_t tenths = (remainder * 10 + divisor / 2) >> shift;
    if (tenths == 10) {
      ++whole;
      tenths = 0;
    }
    if (whole >= 1024 && unit + 1 < kUnits.size()) {  // 1023.96 KiB reads better as 1.0 MiB
      ++unit;
      continue;
    }
    out += std::to_string(whole);
    out.push_back('.');
    out.push_back(static_cast<char>('0' + tenths));
    out.push_back(' ');
    out += kUnits[unit];
    return;
  }
}

void put2(std::string& out, unsigned v) {
  out.push_back(static_cast<char>('0' + v / 10 % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

// "YYYY-MM-DD HH:MM" in UTC.
void append_time(std::string& out, std::time_t t) {
  const UtcTime utc = utc_time(t);
  put2(out, utc.year / 100);
  put2(out, utc.year % 100);
  out.push_back('-');
  put2(out, utc.month);
  out.push_back('-');
  put2(out, utc.day);
  out.push_back(' ');
  put2(out, utc.hour);
  out.push_back(':');
  put2(out, utc.minute);
}

constexpr std::string_view kHead1 =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Index of ";

constexpr std::string_view kHead2 =
    "</title>\n"
    "<style>\n"
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#222;"
    "max-width:60rem;margin:2rem auto;padding:0 1rem}\n"
    "h1{font-size:1.4rem;font-weight:600;overflow-wrap:anywhere}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{padding:.3rem .6rem;text-align:left}\n"
    "th{border-bottom:2px solid #ccc}\n"
    "tbody tr:nth-child(even){background:#f5f5f5}\n"
    "td.n{overflow-wrap:anywhere}\n"
    ".s{text-align:right;white-space:nowrap}\n"
    ".m{white-space:nowrap;font-variant-numeric:tabular-nums}\n"
    "a{color:#0645ad;text-decoration:none}\n"
    "a:hover{text-decoration:underline}\n"
    ".t{background:#fff3cd;padding:.5rem .8rem}\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>Index of ";

constexpr std::string_view kTail =
    "</tbody>\n"
    "</table>\n"
    "</body>\n"
    "</html>\n";

// "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC).
void append_rfc3339(std::string& out, std::time_t t) {
  const UtcTime utc = utc_time(t);
  put2(out, utc.year / 100);
  put2(out, utc.year % 100);
  out.push_back('-');
  put2(out, utc.month);
  out.push_back('-');
  put2(out, utc.day);
  out.push_back('T');
  put2(out, utc.hour);
  out.push_back(':');
  put2(out, utc.minute);
  out.push_back(':');
  put2(out, utc.second);
  out.push_back('Z');
}

std::string_view sort_name(ListingSort sort) {
  switch (sort) {
    case ListingSort::size:
      return "size";
    case ListingSort::date:
      return "date";
    case ListingSort::name:
      break;
  }
  return "name";
}

// A column header that links to this column's order: the other direction when the page is
// already sorted by it, ascending otherwise; an arrow marks the current column.
void append_column_header(std::string& out, std::string_view css_class, std::string_view label,
                          ListingSort column, ListingOrder current) {
  out += "<th";
  if (!css_class.empty()) {
    out += " class=\"";
    out += css_class;
    out += "\"";
  }
  const bool active = current.sort == column;
  const bool link_descending = active && !current.descending;
  out += "><a href=\"?sort=";
  out += sort_name(column);
  out += link_descending ? "&amp;order=desc\">" : "&amp;order=asc\">";
  out += label;
  out += "</a>";
  if (active) out += current.descending ? " \xE2\x96\xBC" : " \xE2\x96\xB2";  // ▼ ▲
  out += "</th>";
}

// Length of the valid UTF-8 sequence starting at text[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), 0 when the byte does not start one.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
  };
  const auto cont = [](unsigned c) { return c >= 0x80 && c <= 0xBF; };
  const unsigned b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(byte(1)) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned b1 = byte(1);
    const bool ok1 = b0 == 0xE0   ? (b1 >= 0xA0 && b1 <= 0xBF)
                     : b0 == 0xED ? (b1 >= 0x80 && b1 <= 0x9F)
                                  : cont(b1);
    return ok1 && cont(byte(2)) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned b1 = byte(1);
    const bool ok1 = b0 == 0xF0   ? (b1 >= 0x90 && b1 <= 0xBF)
                     : b0 == 0xF4 ? (b1 >= 0x80 && b1 <= 0x8F)
                                  : cont(b1);
    return ok1 && cont(byte(2)) && cont(byte(3)) ? 4 : 0;
  }
  return 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = utf8_sequence(text, i);
    if (length == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    const char c = text[i++];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
          out.push_back(kHex[static_cast<unsigned char>(c) & 0x0f]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

ListingOrder listing_order_from_query(std::string_view query) {
  ListingOrder order;
  if (const auto sort = query_parameter(query, "sort")) {
    if (*sort == "size") order.sort = ListingSort::size;
    if (*sort == "date") order.sort = ListingSort::date;
  }
  if (const auto direction = query_parameter(query, "order")) {
    order.descending = *direction == "desc";
  }
  return order;
}

bool listed_before(const DirectoryEntry& a, const DirectoryEntry& b, ListingOrder order) {
  if (a.is_directory != b.is_directory) return a.is_directory;
  switch (order.sort) {
    case ListingSort::size:
      if (a.size != b.size) return order.descending ? a.size > b.size : a.size < b.size;
      break;
    case ListingSort::date:
      if (a.modified != b.modified) {
        return order.descending ? a.modified > b.modified : a.modified < b.modified;
      }
      break;
    case ListingSort::name:
      if (order.descending) return b.name < a.name;
      break;
  }
  return a.name < b.name;
}

ListingRenderer::ListingRenderer(ListingFormat format, std::string url_path, ListingOrder order,
                                 std::vector<DirectoryEntry> entries, std::uint64_t omitted,
                                 std::uint64_t cap)
    : format_(format),
      url_path_(std::move(url_path)),
      order_(order),
      entries_(std::move(entries)),
      omitted_(omitted),
      cap_(cap) {}

bool ListingRenderer::next(std::string& out, std::size_t max_bytes) {
  if (done_) return false;
  const std::size_t start = out.size();
  if (!head_done_) {
    append_head(out);
    head_done_ = true;
  }
  while (next_row_ < entries_.size() && out.size() - start < max_bytes) {
    append_row(out, entries_[next_row_], next_row_ == 0);
    ++next_row_;
  }
  if (next_row_ < entries_.size()) return true;
  append_tail(out);
  done_ = true;
  // The rendered entries are the listing's memory: give it back before the last piece is sent.
  std::vector<DirectoryEntry>().swap(entries_);
  return false;
}

void ListingRenderer::append_head(std::string& out) const {
  if (format_ == ListingFormat::json) {
    out += "{\"path\":";
    append_json_string(out, url_path_);
    out += ",\"sort\":\"";
    out += sort_name(order_.sort);
    out += order_.descending ? "\",\"order\":\"desc\"" : "\",\"order\":\"asc\"";
    out += ",\"total\":";
    out += std::to_string(entries_.size() + omitted_);
    out += ",\"shown\":";
    out += std::to_string(entries_.size());
    out += ",\"truncated\":";
    out += std::to_string(omitted_);
    out += ",\"max_entries\":";
    out += std::to_string(cap_);
    out += ",\"entries\":[";
    return;
  }
  out += kHead1;
  append_escaped(out, url_path_);
  out += kHead2;
  append_escaped(out, url_path_);
  out += "</h1>\n";
  if (omitted_ > 0) {
    out += "<p class=\"t\">";
    out += std::to_string(omitted_);
    out += omitted_ == 1 ? " entry is" : " entries are";
    out += " not shown: a listing shows at most ";
    out += std::to_string(cap_);
    out +=
        " entries (the first ones in this order). The server's --max-listing-entries option "
        "raises the cap.</p>\n";
  }
  out += "<table>\n<thead><tr>";
  append_column_header(out, "", "Name", ListingSort::name, order_);
  append_column_header(out, "s", "Size", ListingSort::size, order_);
  append_column_header(out, "m", "Modified", ListingSort::date, order_);
  out += "</tr></thead>\n<tbody>\n";
  if (url_path_ != "/") {
    out += "<tr><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\">";
    out += kEmDash;
    out += "</td><td class=\"m\"></td></tr>\n";
  }
}

void ListingRenderer::append_row(std::string& out, const DirectoryEntry& entry, bool first) const {
  if (format_ == ListingFormat::json) {
    out += first ? "\n{\"name\":" : ",\n{\"name\":";
    append_json_string(out, entry.name);
    out += ",\"href\":\"";
    out += percent_encode_segment(entry.name);  // only unreserved characters and %XX
    if (entry.is_directory) {
      out += "/\",\"type\":\"directory\"";
    } else {
      out += "\",\"type\":\"file\",\"size\":";
      out += std::to_string(entry.size);
    }
    out += ",\"mtime\":\"";
    append_rfc3339(out, entry.modified);
    out += "\"}";
    return;
  }
  out += "<tr><td class=\"n\"><a href=\"";
  out += percent_encode_segment(entry.name);
  if (entry.is_directory) out.push_back('/');
  out += "\">";
  append_escaped(out, entry.name);
  if (entry.is_directory) out.push_back('/');
  out += "</a></td><td class=\"s\">";
  if (entry.is_directory) {
    out += kEmDash;
  } else {
    append_size(out, entry.size);
  }
  out += "</td><td class=\"m\">";
  append_time(out, entry.modified);
  out += "</td></tr>\n";
}

void ListingRenderer::append_tail(std::string& out) const {
  out += format_ == ListingFormat::json ? "\n]}\n" : kTail;
}

std::string render_directory_listing(std::string_view url_path, std::vector<DirectoryEntry> entries,
                                     ListingOrder order, ListingFormat format) {
  // The parent row is generated by the renderer; "." and ".." would duplicate or confuse it.
  std::erase_if(entries, [](const DirectoryEntry& e) {
    return e.name.empty() || e.name == "." || e.name == "..";
  });
  std::sort(entries.begin(), entries.end(),
            [order](const DirectoryEntry& a, const DirectoryEntry& b) {
              return listed_before(a, b, order);
            });
  const std::size_t count = entries.size();
  ListingRenderer renderer(format, std::string(url_path), order, std::move(entries), 0, count);
  std::string out;
  while (renderer.next(out, std::size_t{1} << 20)) {
  }
  return out;
}

}  // namespace iocomp::http
