#include "http/directory_listing.hpp"

#include "http/http_date.hpp"

#include <algorithm>
#include <array>

#include "http/percent_decode.hpp"

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
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>Index of ";

constexpr std::string_view kTableHead =
    "</h1>\n"
    "<table>\n"
    "<thead><tr><th>Name</th><th class=\"s\">Size</th><th class=\"m\">Modified</th></tr>"
    "</thead>\n"
    "<tbody>\n";

constexpr std::string_view kTail =
    "</tbody>\n"
    "</table>\n"
    "</body>\n"
    "</html>\n";

}  // namespace

std::string render_directory_listing(std::string_view url_path,
                                     std::vector<DirectoryEntry> entries) {
  // The parent row is generated here; "." and ".." from readdir would duplicate or confuse it.
  std::erase_if(entries, [](const DirectoryEntry& e) {
    return e.name.empty() || e.name == "." || e.name == "..";
  });
  std::sort(entries.begin(), entries.end(), [](const DirectoryEntry& a, const DirectoryEntry& b) {
    if (a.is_directory != b.is_directory) return a.is_directory;
    return a.name < b.name;
  });

  std::string out;
  out.reserve(kHead1.size() + kHead2.size() + kTableHead.size() + kTail.size() +
              2 * url_path.size() + entries.size() * 160);
  out += kHead1;
  append_escaped(out, url_path);
  out += kHead2;
  append_escaped(out, url_path);
  out += kTableHead;

  if (url_path != "/") {
    out += "<tr><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\">";
    out += kEmDash;
    out += "</td><td class=\"m\"></td></tr>\n";
  }
  for (const DirectoryEntry& entry : entries) {
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
  out += kTail;
  return out;
}

}  // namespace iocomp::http
