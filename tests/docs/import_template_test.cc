// docs/bulk-import.md's template table is the importer's columns as built: each column once, in
// the importer's order, with whether it is required.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "domain/import_rows.h"

namespace msp {
namespace {

TEST(ImportTemplateDoc, BulkImportMdListsEveryColumnAsBuilt) {
  std::ifstream in(std::string(MSP_SOURCE_DIR) + "/docs/bulk-import.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("<!-- import-template:begin -->");
  const size_t end = doc.find("<!-- import-template:end -->");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const std::string table = doc.substr(begin, end - begin);
  static const std::regex kRow(R"(\| `([a-z0-9_]+)` \| (yes|no) \|)");
  std::vector<std::string> documented;
  for (auto it = std::sregex_iterator(table.begin(), table.end(), kRow);
       it != std::sregex_iterator(); ++it) {
    documented.push_back((*it)[1].str() + ((*it)[2].str() == "yes" ? " required" : " optional"));
  }
  std::vector<std::string> built;
  for (const auto& column : customer::ImportColumns()) {
    built.push_back(std::string(column.name) + (column.required ? " required" : " optional"));
  }
  EXPECT_EQ(documented, built);
}

}  // namespace
}  // namespace msp
