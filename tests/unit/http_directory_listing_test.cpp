#include "http/directory_listing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace iocomp::http {
namespace {

constexpr std::time_t kJan2 = 1704164640;  // 2024-01-02 03:04:00 UTC

DirectoryEntry file(std::string name, std::uint64_t size, std::time_t modified = kJan2) {
  return {std::move(name), false, size, modified};
}

DirectoryEntry dir(std::string name, std::time_t modified = kJan2) {
  return {std::move(name), true, 0, modified};
}

std::size_t count(const std::string& haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// The text of the table cell after the link for `href`.
std::string row_of(const std::string& html, std::string_view href) {
  const std::string marker = "href=\"" + std::string(href) + "\"";
  const std::size_t start = html.find(marker);
  if (start == std::string::npos) return "";
  const std::size_t end = html.find("</tr>", start);
  return html.substr(start, end - start);
}

TEST(HttpDirectoryListing, DocumentStructure) {
  const std::string html = render_directory_listing("/pub/", {file("a.txt", 3)});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_NE(html.find("<title>Index of /pub/</title>"), std::string::npos);
  EXPECT_NE(html.find("<h1>Index of /pub/</h1>"), std::string::npos);
  EXPECT_NE(html.find(">Name</a> \xE2\x96\xB2</th>"), std::string::npos);  // sorted by it
  EXPECT_NE(html.find(">Size</a></th>"), std::string::npos);
  EXPECT_NE(html.find(">Modified</a></th>"), std::string::npos);
  EXPECT_EQ(count(html, "<table>"), 1u);
  EXPECT_EQ(count(html, "</table>"), 1u);
  EXPECT_EQ(count(html, "<tr>"), count(html, "</tr>"));
  EXPECT_EQ(html.substr(html.size() - 8), "</html>\n");
}

TEST(HttpDirectoryListing, ParentLink) {
  EXPECT_NE(render_directory_listing("/pub/", {}).find("<a href=\"../\">../</a>"),
            std::string::npos);
  EXPECT_EQ(render_directory_listing("/", {}).find("../"), std::string::npos);
  EXPECT_EQ(render_directory_listing("/", {file("x", 1)}).find("href=\"../\""), std::string::npos);
}

TEST(HttpDirectoryListing, DirectoriesFirstThenByName) {
  const std::string html = render_directory_listing(
      "/", {file("b.txt", 1), dir("zdir"), file("a.txt", 1), dir("adir"), file("B.txt", 1)});
  const std::size_t adir = html.find("href=\"adir/\"");
  const std::size_t zdir = html.find("href=\"zdir/\"");
  const std::size_t upper_b = html.find("href=\"B.txt\"");
  const std::size_t a = html.find("href=\"a.txt\"");
  const std::size_t b = html.find("href=\"b.txt\"");
  ASSERT_NE(adir, std::string::npos);
  ASSERT_NE(zdir, std::string::npos);
  ASSERT_NE(upper_b, std::string::npos);
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_LT(adir, zdir);
  EXPECT_LT(zdir, upper_b);
  EXPECT_LT(upper_b, a);
  EXPECT_LT(a, b);
}

TEST(HttpDirectoryListing, DirectoryRows) {
  const std::string html = render_directory_listing("/", {dir("sub")});
  const std::string row = row_of(html, "sub/");
  EXPECT_NE(row.find(">sub/</a>"), std::string::npos) << row;
  EXPECT_NE(row.find("\xE2\x80\x94"), std::string::npos) << row;  // em dash for the size
  EXPECT_NE(row.find("2024-01-02 03:04"), std::string::npos) << row;
}

TEST(HttpDirectoryListing, HumanReadableSizes) {
  const std::pair<std::uint64_t, std::string_view> cases[] = {
      {0, "0 B"},
      {1, "1 B"},
      {1023, "1023 B"},
      {1024, "1.0 KiB"},
      {1536, "1.5 KiB"},
      {10 * 1024 + 100, "10.1 KiB"},
      {1024 * 1024 - 1, "1.0 MiB"},
      {1024 * 1024 * 3 / 2, "1.5 MiB"},
      {5ULL * 1024 * 1024 * 1024, "5.0 GiB"},
      {1024ULL * 1024 * 1024 * 1024 * 2, "2.0 TiB"},
      {1ULL << 50, "1.0 PiB"},
      {1ULL << 60, "1.0 EiB"},
      {UINT64_MAX, "16.0 EiB"},
  };
  for (const auto& [size, text] : cases) {
    const std::string html = render_directory_listing("/", {file("f", size)});
    const std::string row = row_of(html, "f");
    // Built with append: GCC 12 -O2 gives a false -Wrestrict on "literal" + std::string.
    std::string cell(">");
    cell.append(text).append("</td>");
    EXPECT_NE(row.find(cell), std::string::npos) << size << " expected " << text << " in " << row;
  }
}

TEST(HttpDirectoryListing, ModificationTimeUtc) {
  const std::pair<std::time_t, std::string_view> cases[] = {
      {0, "1970-01-01 00:00"},
      {kJan2 + 59, "2024-01-02 03:04"},
      {951868799, "2000-02-29 23:59"},
      {-60, "1969-12-31 23:59"},
  };
  for (const auto& [time, text] : cases) {
    const std::string html = render_directory_listing("/", {file("f", 1, time)});
    EXPECT_NE(row_of(html, "f").find(text), std::string::npos) << time;
  }
}

TEST(HttpDirectoryListing, EscapesNamesAndEncodesLinks) {
  const std::string html = render_directory_listing(
      "/", {file("<script>alert('x')&\".txt", 1), dir("a b"), file("50%", 2)});
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find(">&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;.txt</a>"), std::string::npos);
  EXPECT_NE(html.find("href=\"%3Cscript%3Ealert%28%27x%27%29%26%22.txt\""), std::string::npos);
  EXPECT_NE(html.find("href=\"a%20b/\">a b/</a>"), std::string::npos);
  EXPECT_NE(html.find("href=\"50%25\">50%</a>"), std::string::npos);
}

TEST(HttpDirectoryListing, EscapesUrlPath) {
  const std::string html = render_directory_listing("/<b>&'\"/", {});
  EXPECT_NE(html.find("<title>Index of /&lt;b&gt;&amp;&#39;&quot;/</title>"), std::string::npos);
  EXPECT_NE(html.find("<h1>Index of /&lt;b&gt;&amp;&#39;&quot;/</h1>"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
}

TEST(HttpDirectoryListing, NamesLikeUrlsStayRelative) {
  const std::string html = render_directory_listing("/", {file("javascript:alert(1)", 1)});
  EXPECT_NE(html.find("href=\"javascript%3Aalert%281%29\""), std::string::npos);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
}

TEST(HttpDirectoryListing, DotEntriesAreDropped) {
  const std::string html = render_directory_listing("/x/", {dir("."), dir(".."), file("", 1)});
  EXPECT_EQ(count(html, "<td class=\"n\">"), 1u);  // just the parent row
  EXPECT_EQ(count(render_directory_listing("/", {dir("."), dir("..")}), "<td class=\"n\">"), 0u);
}

TEST(HttpDirectoryListing, Utf8NamesPassThrough) {
  const std::string html = render_directory_listing("/", {file("\xC3\xA9t\xC3\xA9.txt", 1)});
  EXPECT_NE(html.find(">\xC3\xA9t\xC3\xA9.txt</a>"), std::string::npos);
  EXPECT_NE(html.find("href=\"%C3%A9t%C3%A9.txt\""), std::string::npos);
}

TEST(HttpDirectoryListing, ColumnHeadersLinkToTheOtherOrders) {
  const std::string by_name = render_directory_listing("/", {});
  EXPECT_NE(by_name.find("<a href=\"?sort=name&amp;order=desc\">Name</a> \xE2\x96\xB2"),
            std::string::npos);
  EXPECT_NE(by_name.find("<a href=\"?sort=size&amp;order=asc\">Size</a></th>"), std::string::npos);
  EXPECT_NE(by_name.find("<a href=\"?sort=date&amp;order=asc\">Modified</a></th>"),
            std::string::npos);
  const std::string size_desc =
      render_directory_listing("/", {}, {ListingSort::size, /*descending=*/true});
  EXPECT_NE(size_desc.find("<a href=\"?sort=size&amp;order=asc\">Size</a> \xE2\x96\xBC"),
            std::string::npos);
  EXPECT_NE(size_desc.find("<a href=\"?sort=name&amp;order=asc\">Name</a></th>"),
            std::string::npos);
}

TEST(HttpDirectoryListing, OrderFromQueryFallsBackToDefault) {
  const auto check = [](std::string_view query, ListingSort sort, bool descending) {
    const ListingOrder order = listing_order_from_query(query);
    EXPECT_EQ(order.sort, sort) << query;
    EXPECT_EQ(order.descending, descending) << query;
  };
  check("", ListingSort::name, false);
  check("sort=size", ListingSort::size, false);
  check("sort=date&order=desc", ListingSort::date, true);
  check("order=desc", ListingSort::name, true);
  check("sort=bogus&order=sideways", ListingSort::name, false);
  check("sort=SIZE", ListingSort::name, false);
  check("sort=%zz&order=%", ListingSort::name, false);
}

TEST(HttpDirectoryListing, SortOrders) {
  const std::vector<DirectoryEntry> entries = {file("b", 30, 300), file("a", 10, 200),
                                               file("c", 20, 100), dir("zdir", 50),
                                               dir("adir", 400),   file("d", 20, 100)};
  const auto order_of = [&](ListingOrder order) {
    std::vector<DirectoryEntry> sorted = entries;
    std::sort(sorted.begin(), sorted.end(),
              [order](const auto& x, const auto& y) { return listed_before(x, y, order); });
    std::string names;
    for (const auto& e : sorted) names += e.name + " ";
    return names;
  };
  EXPECT_EQ(order_of({ListingSort::name, false}), "adir zdir a b c d ");
  EXPECT_EQ(order_of({ListingSort::name, true}), "zdir adir d c b a ");
  EXPECT_EQ(order_of({ListingSort::size, false}), "adir zdir a c d b ");  // ties by name
  EXPECT_EQ(order_of({ListingSort::size, true}), "adir zdir b c d a ");
  EXPECT_EQ(order_of({ListingSort::date, false}), "zdir adir c d a b ");
  EXPECT_EQ(order_of({ListingSort::date, true}), "adir zdir b a c d ");
  // The rendered page follows the same order.
  const std::string html = render_directory_listing("/", entries, {ListingSort::size, true});
  EXPECT_LT(html.find("href=\"b\""), html.find("href=\"c\""));
  EXPECT_LT(html.find("href=\"d\""), html.find("href=\"a\""));
}

TEST(HttpDirectoryListing, TruncationIsStated) {
  ListingRenderer renderer(ListingFormat::html, "/big/", {}, {file("a", 1)}, 40000, 10000);
  std::string html;
  while (renderer.next(html, 1 << 20)) {
  }
  EXPECT_NE(html.find("40000 entries are not shown: a listing shows at most 10000 entries"),
            std::string::npos);
  EXPECT_NE(html.find("--max-listing-entries"), std::string::npos);
  EXPECT_EQ(render_directory_listing("/", {file("a", 1)}).find("not shown"), std::string::npos);

  ListingRenderer json(ListingFormat::json, "/big/", {}, {file("a", 1)}, 40000, 10000);
  std::string doc;
  while (json.next(doc, 1 << 20)) {
  }
  EXPECT_NE(doc.find("\"total\":40001,\"shown\":1,\"truncated\":40000,\"max_entries\":10000"),
            std::string::npos)
      << doc;
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(HttpDirectoryListing, JsonStringEscaping) {
  EXPECT_EQ(json_string("plain.txt"), "\"plain.txt\"");
  EXPECT_EQ(json_string("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
  EXPECT_EQ(json_string("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(json_string(std::string_view("\x01\x1f\x00", 3)), "\"\\u0001\\u001f\\u0000\"");
  EXPECT_EQ(json_string("\x7f"), "\"\x7f\"");
  EXPECT_EQ(json_string("<script>"), "\"<script>\"");
  // Valid UTF-8 passes through: 2, 3 and 4 bytes.
  EXPECT_EQ(json_string("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
            "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
  // Each byte outside a valid sequence becomes U+FFFD: stray continuation, bad lead bytes,
  // overlongs, surrogates, above U+10FFFF, truncated sequences.
  EXPECT_EQ(json_string("a\x80z"), "\"a\\ufffdz\"");
  EXPECT_EQ(json_string("\xFF\xFE"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xC0\xAF"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xE0\x80\xAF"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xF4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xE2\x82"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("x\xC3"), "\"x\\ufffd\"");
}

TEST(HttpDirectoryListing, JsonDocument) {
  const std::string doc = render_directory_listing(
      "/p\"/", {file("a\xFF.txt", 12, kJan2 + 5), dir("d")}, {}, ListingFormat::json);
  EXPECT_EQ(doc,
            "{\"path\":\"/p\\\"/\",\"sort\":\"name\",\"order\":\"asc\",\"total\":2,\"shown\":2,"
            "\"truncated\":0,\"max_entries\":2,\"entries\":[\n"
            "{\"name\":\"d\",\"href\":\"d/\",\"type\":\"directory\","
            "\"mtime\":\"2024-01-02T03:04:00Z\"},\n"
            "{\"name\":\"a\\ufffd.txt\",\"href\":\"a%FF.txt\",\"type\":\"file\",\"size\":12,"
            "\"mtime\":\"2024-01-02T03:04:05Z\"}\n]}\n");
  EXPECT_EQ(render_directory_listing("/", {}, {}, ListingFormat::json),
            "{\"path\":\"/\",\"sort\":\"name\",\"order\":\"asc\",\"total\":0,\"shown\":0,"
            "\"truncated\":0,\"max_entries\":0,\"entries\":[\n]}\n");
}

// However the document is cut into pieces, the pieces are bounded and join to the same bytes.
TEST(HttpDirectoryListing, PiecesAreBoundedAndJoinToTheWholeDocument) {
  std::vector<DirectoryEntry> entries;
  for (int i = 0; i < 500; ++i) entries.push_back(file("file-" + std::to_string(1000 + i), 1));
  for (const ListingFormat format : {ListingFormat::html, ListingFormat::json}) {
    const std::string whole = render_directory_listing("/d/", entries, {}, format);
    for (const std::size_t max_bytes : {std::size_t{1}, std::size_t{100}, std::size_t{4096}}) {
      ListingRenderer renderer(format, "/d/", {}, entries, 0, entries.size());
      std::string joined;
      std::size_t pieces = 0;
      bool more = true;
      while (more) {
        std::string piece;
        more = renderer.next(piece, max_bytes);
        ++pieces;
        ASSERT_LT(pieces, 10000u);
        // A piece stops after the row that reaches max_bytes (the head comes whole first).
        if (pieces > 1) {
          EXPECT_LT(piece.size(), max_bytes + 200) << max_bytes;
        }
        joined += piece;
      }
      EXPECT_EQ(joined, whole) << max_bytes;
      if (max_bytes == 1) {
        EXPECT_GE(pieces, 500u);  // one row per piece
      }
      std::string after;
      EXPECT_FALSE(renderer.next(after, max_bytes));
      EXPECT_TRUE(after.empty());
    }
  }
}

}  // namespace
}  // namespace iocomp::http
