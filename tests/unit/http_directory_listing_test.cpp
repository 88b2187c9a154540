#include "http/directory_listing.hpp"

#include <gtest/gtest.h>

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
  EXPECT_NE(html.find("<th>Name</th>"), std::string::npos);
  EXPECT_NE(html.find(">Size</th>"), std::string::npos);
  EXPECT_NE(html.find(">Modified</th>"), std::string::npos);
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
  EXPECT_EQ(count(html, "href="), 1u);  // just the parent link
  EXPECT_EQ(render_directory_listing("/", {dir("."), dir("..")}).find("href="), std::string::npos);
}

TEST(HttpDirectoryListing, Utf8NamesPassThrough) {
  const std::string html = render_directory_listing("/", {file("\xC3\xA9t\xC3\xA9.txt", 1)});
  EXPECT_NE(html.find(">\xC3\xA9t\xC3\xA9.txt</a>"), std::string::npos);
  EXPECT_NE(html.find("href=\"%C3%A9t%C3%A9.txt\""), std::string::npos);
}

}  // namespace
}  // namespace iocomp::http
