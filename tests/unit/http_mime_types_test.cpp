#include "http/mime_types.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iocomp::http {
namespace {

constexpr std::string_view kTable =
    "# comment line\n"
    "\n"
    "text/html\t\t\thtml htm\n"
    "application/x-sh sh   # trailing comment\n"
    "text/x-sh sh\n"
    "image/PNG PNG\r\n"
    "application/no-extensions\n"
    "   application/indented   ind\n"
    "application/last last";

TEST(HttpMimeTypes, ParseAndLookup) {
  const MimeTypes types = MimeTypes::parse(kTable);
  EXPECT_EQ(types.lookup("index.html"), "text/html");
  EXPECT_EQ(types.lookup("a.htm"), "text/html");
  EXPECT_EQ(types.lookup("x.ind"), "application/indented");
  EXPECT_EQ(types.lookup("x.last"), "application/last");
  // Types are returned as the table spells them; extensions are case-insensitive.
  EXPECT_EQ(types.lookup("x.png"), "image/PNG");
  EXPECT_EQ(types.lookup("X.PnG"), "image/PNG");
  EXPECT_EQ(types.lookup("INDEX.HTML"), "text/html");
}

TEST(HttpMimeTypes, FirstDefinitionWins) {
  EXPECT_EQ(MimeTypes::parse(kTable).lookup("run.sh"), "application/x-sh");
}

TEST(HttpMimeTypes, CommentsAreNotTypesOrExtensions) {
  const MimeTypes types = MimeTypes::parse(kTable);
  EXPECT_EQ(types.lookup("x.comment"), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("x.trailing"), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("x.line"), MimeTypes::kDefault);
}

TEST(HttpMimeTypes, ExtensionIsTakenFromTheLastComponent) {
  const MimeTypes types = MimeTypes::parse(kTable);
  EXPECT_EQ(types.lookup("dir/sub/page.html"), "text/html");
  EXPECT_EQ(types.lookup("/abs/page.html"), "text/html");
  EXPECT_EQ(types.lookup("dir.html/readme"), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("archive.tar.html"), "text/html");
  EXPECT_EQ(types.lookup("page.html.bak"), MimeTypes::kDefault);
}

TEST(HttpMimeTypes, NoExtension) {
  const MimeTypes types = MimeTypes::parse(kTable);
  EXPECT_EQ(types.lookup(""), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("Makefile"), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("trailing."), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("html"), MimeTypes::kDefault);
  // A leading dot marks a hidden file, not an extension.
  EXPECT_EQ(types.lookup(".html"), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup("dir/.html"), MimeTypes::kDefault);
  EXPECT_EQ(types.lookup(".hidden.html"), "text/html");
  EXPECT_EQ(types.lookup("dir/"), MimeTypes::kDefault);
}

TEST(HttpMimeTypes, EmptyTable) {
  const MimeTypes types = MimeTypes::parse("");
  EXPECT_EQ(types.lookup("a.html"), MimeTypes::kDefault);
  EXPECT_EQ(MimeTypes::parse("# only comments\n\n  \n").lookup("a.html"), MimeTypes::kDefault);
}

TEST(HttpMimeTypes, BuiltinFallbackWhenFileIsMissing) {
  const MimeTypes types = MimeTypes::load_file("/nonexistent/iocomp/mime.types");
  const std::pair<const char*, const char*> expected[] = {
      {"a.html", "text/html"},
      {"a.htm", "text/html"},
      {"a.txt", "text/plain"},
      {"a.css", "text/css"},
      {"a.js", "text/javascript"},
      {"a.json", "application/json"},
      {"a.png", "image/png"},
      {"a.jpg", "image/jpeg"},
      {"a.jpeg", "image/jpeg"},
      {"a.gif", "image/gif"},
      {"a.svg", "image/svg+xml"},
      {"a.pdf", "application/pdf"},
      {"a.zip", "application/zip"},
      {"a.tar.gz", "application/gzip"},
      {"a.tar", "application/x-tar"},
      {"a.xz", "application/x-xz"},
      {"a.iso", "application/x-iso9660-image"},
      {"a.mp4", "video/mp4"},
      {"a.wasm", "application/wasm"},
  };
  for (const auto& [name, type] : expected) EXPECT_EQ(types.lookup(name), type) << name;
  EXPECT_EQ(types.lookup("a.unknownext"), MimeTypes::kDefault);
}

TEST(HttpMimeTypes, BuiltinFallbackWhenPathIsADirectory) {
  EXPECT_EQ(MimeTypes::load_file("/").lookup("a.wasm"), "application/wasm");
}

TEST(HttpMimeTypes, SystemTable) {
  const MimeTypes types = MimeTypes::load_file();
  // Present in the built-in table and in Debian's media-types alike.
  EXPECT_EQ(types.lookup("index.html"), "text/html");
  EXPECT_EQ(types.lookup("image.png"), "image/png");
  EXPECT_EQ(types.lookup("doc.pdf"), "application/pdf");
  EXPECT_EQ(types.lookup("noext"), MimeTypes::kDefault);
}

}  // namespace
}  // namespace iocomp::http
