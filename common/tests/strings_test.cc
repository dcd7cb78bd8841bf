// Text that reaches people: what UnsafeTextProblem refuses, and the search parameter built on it.
#include "msp/common/strings.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"
#include "msp/common/list_filter.h"

namespace msp {
namespace {

TEST(UnsafeText, AcceptsOrdinaryTextInAnyScript) {
  for (const char* ok : {"Acme GmbH", "Müller & Söhne", "株式会社テスト", "Ørsted A/S",
                         "O'Brien-Smith, Ltd.", "שלום", "emoji 🚀"}) {
    EXPECT_FALSE(UnsafeTextProblem(ok).has_value()) << ok;
  }
}

TEST(UnsafeText, RefusesControlsSeparatorsAndBidiOverridesNamingTheCharacter) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("a\0b", 3), "U+0000"},
      {"tab\there", "U+0009"},
      {"new\nline", "U+000A"},
      {"del\x7f", "U+007F"},
      {"next\xc2\x85line", "U+0085"},         // NEL, a C1 control
      {"csi\xc2\x9b", "U+009B"},              // C1
      {"line\xe2\x80\xa8sep", "U+2028"},      // line separator
      {"para\xe2\x80\xa9sep", "U+2029"},      // paragraph separator
      {"evil\xe2\x80\xaetxt.exe", "U+202E"},  // right-to-left override
      {"iso\xe2\x81\xa6late", "U+2066"},      // left-to-right isolate
      {"mark\xe2\x80\x8f", "U+200F"},         // right-to-left mark
      {"arabic\xd8\x9cmark", "U+061C"}};
  for (const auto& [text, named] : cases) {
    const auto problem = UnsafeTextProblem(text);
    ASSERT_TRUE(problem.has_value()) << named;
    EXPECT_NE(problem->find(named), std::string::npos) << *problem;
  }
  EXPECT_EQ(UnsafeTextProblem("bad \xff utf-8"), "must be UTF-8 text");
}

TEST(Search, RefusesControlCharactersNamingSearch) {
  EXPECT_EQ(ParseSearch("  Acme  "), "acme");
  for (const std::string& bad : {std::string("\0", 1), std::string("acme\x01"),
                                 std::string("a\xe2\x80\xae"
                                             "b")}) {
    try {
      ParseSearch(bad);
      ADD_FAILURE() << "accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT);
      ASSERT_EQ(e.field_violations().size(), 1u);
      EXPECT_EQ(e.field_violations()[0].field, "search");
    }
  }
}

}  // namespace
}  // namespace msp
