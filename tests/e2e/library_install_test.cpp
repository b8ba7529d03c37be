// `cmake --install` gives a usable package: a C and a C++ consumer outside the tree build against
// the installed prefix, through find_package(glmasr) and through pkg-config, and print exactly
// what `glmasr transcribe` prints for the same file.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "testing/testing.h"

namespace glmasr::testing {
namespace {

namespace fs = std::filesystem;

std::string build_dir() {
  return fs::path(glmasr_binary()).parent_path().string();
}
std::string consumer_source() {
  return source_dir() + "/tests/e2e/library_consumer";
}
std::string tiny_model() {
  return data_dir() + "/tiny";
}

CommandResult run_ok(const std::string& command) {
  CommandResult result = run_command(command);
  EXPECT_EQ(result.exit_code, 0) << command << "\nstdout:\n"
                                 << result.out << "\nstderr:\n"
                                 << result.err;
  return result;
}

class LibraryInstall : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prefix_ = new std::string(make_temp_dir("library_install") + "/prefix");
    install_ = new CommandResult(run_command("cmake --install " + shell_quote(build_dir()) +
                                             " --prefix " + shell_quote(*prefix_)));
  }
  static void TearDownTestSuite() {
    delete prefix_;
    delete install_;
  }
  void SetUp() override {
    ASSERT_EQ(install_->exit_code, 0) << install_->out << install_->err;
    audio_ = shared_dir().empty() ? "" : shared_dir() + "/audio/jfk.wav";
  }
  // What the CLI prints for the file: the reference for every consumer.
  std::string cli_text() {
    return run_ok(shell_quote(glmasr_binary()) + " transcribe --quiet --model " +
                  shell_quote(tiny_model()) + " " + shell_quote(audio_))
        .out;
  }
  std::string run_args() const {
    return " " + shell_quote(tiny_model()) + " " + shell_quote(audio_);
  }
  std::string prefix() const { return *prefix_; }

  static std::string* prefix_;
  static CommandResult* install_;
  std::string audio_;
};

std::string* LibraryInstall::prefix_ = nullptr;
CommandResult* LibraryInstall::install_ = nullptr;

TEST_F(LibraryInstall, PutsTheLibraryHeadersAndPackageFilesUnderThePrefix) {
  for (const char* file : {"lib/libglmasr.so", "lib/libglmasr.so.0", "include/glmasr/glmasr.h",
                           "include/glmasr/glmasr.hpp", "lib/cmake/glmasr/glmasrConfig.cmake",
                           "lib/cmake/glmasr/glmasrConfigVersion.cmake", "lib/pkgconfig/glmasr.pc"})
    EXPECT_TRUE(fs::exists(prefix() + "/" + file)) << file;
  EXPECT_TRUE(fs::is_symlink(prefix() + "/lib/libglmasr.so"));
  const CommandResult soname = run_ok("objdump -p " + shell_quote(prefix() + "/lib/libglmasr.so"));
  EXPECT_NE(soname.out.find("SONAME               libglmasr.so.0"), std::string::npos)
      << soname.out;
}

TEST_F(LibraryInstall, ExportsOnlyTheCApi) {
  const CommandResult symbols =
      run_ok("nm -D --defined-only " + shell_quote(prefix() + "/lib/libglmasr.so"));
  std::istringstream lines(symbols.out);
  std::string address, kind, name;
  int exported = 0;
  while (lines >> address >> kind >> name) {
    EXPECT_EQ(name.rfind("glmasr_", 0), 0u) << "exported symbol outside the C API: " << name;
    ++exported;
  }
  EXPECT_GE(exported, 20);
}

TEST_F(LibraryInstall, ConsumersBuiltWithFindPackagePrintWhatTheCliPrints) {
  if (audio_.empty()) GTEST_SKIP() << "../shared/audio is not present";
  const std::string build = make_temp_dir("library_consumer_cmake");
  run_ok("cmake -S " + shell_quote(consumer_source()) + " -B " + shell_quote(build) +
         " -G Ninja -DCMAKE_PREFIX_PATH=" + shell_quote(prefix()));
  run_ok("cmake --build " + shell_quote(build));
  const std::string expected = cli_text();
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(run_ok(shell_quote(build + "/consumer_c") + run_args()).out, expected);
  EXPECT_EQ(run_ok(shell_quote(build + "/consumer_cpp") + run_args()).out, expected);
}

TEST_F(LibraryInstall, ConsumersBuiltWithPkgConfigPrintWhatTheCliPrints) {
  if (audio_.empty()) GTEST_SKIP() << "../shared/audio is not present";
  const std::string out = make_temp_dir("library_consumer_pc");
  const std::string pc = "PKG_CONFIG_PATH=" + shell_quote(prefix() + "/lib/pkgconfig") + " ";
  const std::string flags = pc + "pkg-config --cflags --libs glmasr";
  const CommandResult version = run_ok(pc + "pkg-config --modversion glmasr");
  EXPECT_EQ("glmasr " + version.out, run_ok(shell_quote(glmasr_binary()) + " --version").out);
  run_ok("cc -o " + shell_quote(out + "/consumer_c") + " " +
         shell_quote(consumer_source() + "/consumer.c") + " $(" + flags + ")");
  run_ok("c++ -std=c++17 -o " + shell_quote(out + "/consumer_cpp") + " " +
         shell_quote(consumer_source() + "/consumer.cpp") + " $(" + flags + ")");
  const std::string env = "LD_LIBRARY_PATH=" + shell_quote(prefix() + "/lib") + " ";
  const std::string expected = cli_text();
  EXPECT_EQ(run_ok(env + shell_quote(out + "/consumer_c") + run_args()).out, expected);
  EXPECT_EQ(run_ok(env + shell_quote(out + "/consumer_cpp") + run_args()).out, expected);
}

}  // namespace
}  // namespace glmasr::testing
