// docs/bulk-import.md's template tables are the importer's columns as built (new customers and
// invitations): each column once, in the importer's order, with whether it is required; and the
// example files read as the templates say.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "domain/bulk_jobs.h"
#include "domain/import_rows.h"
#include "domain/invite_rows.h"

namespace msp {
namespace {

std::string ReadSource(const std::string& path) {
  std::ifstream in(std::string(MSP_SOURCE_DIR) + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "column required|optional" of each row of the table between `marker`'s begin and end.
std::vector<std::string> DocumentedColumns(const std::string& marker) {
  const std::string doc = ReadSource("docs/bulk-import.md");
  const size_t begin = doc.find("<!-- " + marker + ":begin -->");
  const size_t end = doc.find("<!-- " + marker + ":end -->");
  EXPECT_NE(begin, std::string::npos) << marker;
  EXPECT_NE(end, std::string::npos) << marker;
  if (begin == std::string::npos || end == std::string::npos) return {};
  const std::string table = doc.substr(begin, end - begin);
  static const std::regex kRow(R"(\| `([a-z0-9_]+)` \| (yes|no) \|)");
  std::vector<std::string> documented;
  for (auto it = std::sregex_iterator(table.begin(), table.end(), kRow);
       it != std::sregex_iterator(); ++it) {
    documented.push_back((*it)[1].str() + ((*it)[2].str() == "yes" ? " required" : " optional"));
  }
  return documented;
}

std::vector<std::string> BuiltColumns(const std::vector<customer::ImportColumn>& columns) {
  std::vector<std::string> built;
  for (const auto& column : columns) {
    built.push_back(std::string(column.name) + (column.required ? " required" : " optional"));
  }
  return built;
}

TEST(ImportTemplateDoc, BulkImportMdListsEveryColumnAsBuilt) {
  EXPECT_EQ(DocumentedColumns("import-template"), BuiltColumns(customer::ImportColumns()));
  EXPECT_EQ(DocumentedColumns("invite-template"), BuiltColumns(customer::InviteColumns()));
}

TEST(ImportTemplateDoc, TheExampleFilesHaveNoProblemsOfTheirOwn) {
  const auto invitations = customer::CheckInviteFile(ReadSource("docs/examples/invitations.csv"));
  EXPECT_EQ(invitations.rows.size(), 2u);
  EXPECT_EQ(invitations.invalid_rows, 0);
}

}  // namespace
}  // namespace msp
