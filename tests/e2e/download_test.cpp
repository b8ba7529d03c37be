// glmasr download against a local fake hub (tests/e2e/fake_hub.py): full download with paging,
// redirects and a token; a transfer cut off midway and resumed with a Range request; a corrupted
// file rejected; HTTP errors that name the URL. Plus the hub client's parsing helpers.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "hub/downloader.h"
#include "hub/http.h"
#include "hub/hub_api.h"
#include "hub/sha256.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::shell_quote;

constexpr const char* kRepo = "test-org/tiny-model";
constexpr int64_t kWeightsBytes = 3 << 20;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng() & 0xFF);
  return data;
}

// The model folder the fake hub serves: small git files, LFS-sized weights, a nested file.
fs::path make_source_folder(const fs::path& dir) {
  const fs::path source = dir / "source";
  write_file(source / "config.json", R"({"model_type": "glmasr"})");
  write_file(source / "tokenizer_config.json", R"({"eos_token": "<|endoftext|>"})");
  write_file(source / "model.safetensors", random_bytes(kWeightsBytes, 1));
  write_file(source / "extra" / "generation_config.bin", random_bytes(5000, 2));
  return source;
}

struct RequestLog {
  std::vector<nlohmann::json> entries;
  std::vector<nlohmann::json> for_path(const std::string& fragment) const {
    std::vector<nlohmann::json> out;
    for (const auto& entry : entries)
      if (entry["path"].get<std::string>().find(fragment) != std::string::npos)
        out.push_back(entry);
    return out;
  }
};

// Runs fake_hub.py in the background for the lifetime of the object (and at most 120 s).
class FakeHub {
 public:
  FakeHub(const fs::path& dir, const fs::path& root, const std::string& extra_args)
      : log_(dir / ("requests-" + std::to_string(counter_++) + ".log")) {
    const fs::path port_file = dir / "port";
    fs::remove(port_file);
    const std::string script = testing::source_dir() + "/tests/e2e/fake_hub.py";
    const auto started =
        run_command("python3 " + shell_quote(script) + " --root " + shell_quote(root.string()) +
                    " --repo " + kRepo + " --log " + shell_quote(log_.string()) + " --port-file " +
                    shell_quote(port_file.string()) + " --lifetime 120 " + extra_args + " >" +
                    shell_quote((dir / "server.out").string()) + " 2>&1 & echo $!");
    pid_ = std::atoi(started.out.c_str());
    for (int i = 0; i < 600 && !fs::exists(port_file); ++i)  // up to 30 s on a busy machine
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    port_ = std::atoi(read_file(port_file).c_str());
  }
  ~FakeHub() {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }
  bool ok() const { return pid_ > 0 && port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  RequestLog requests() const {
    RequestLog log;
    std::istringstream lines(read_file(log_));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) log.entries.push_back(nlohmann::json::parse(line));
    return log;
  }

 private:
  static inline int counter_ = 0;
  fs::path log_;
  int pid_ = -1;
  int port_ = 0;
};

// The binary with a clean hub environment: no token from the machine, fast retries.
testing::CommandResult run_download(const std::string& env, const std::string& args) {
  return run_command(
      "env -u HF_TOKEN -u HF_ENDPOINT HF_TOKEN_PATH=/nonexistent "
      "GLMASR_DOWNLOAD_BACKOFF_SECONDS=0.05 " +
      env + " " + shell_quote(testing::glmasr_binary()) + " download --repo " + kRepo + " " + args);
}

void expect_same_tree(const fs::path& source, const fs::path& copy) {
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(source)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const fs::path relative = fs::relative(entry.path(), source);
    ASSERT_TRUE(fs::exists(copy / relative)) << relative;
    EXPECT_EQ(read_file(copy / relative), read_file(entry.path())) << relative;
  }
  EXPECT_EQ(files, 4);
  for (const auto& entry : fs::recursive_directory_iterator(copy))
    EXPECT_NE(entry.path().extension(), ".incomplete") << entry.path();
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    source_ = make_source_folder(dir_);
    target_ = dir_ / "model";
  }
  fs::path dir_, source_, target_;
};

TEST_F(DownloadTest, FetchesEveryFileWithPagingRedirectsAndToken) {
  FakeHub hub(dir_, source_, "--page-size 2 --redirect --token secret-test-token");
  ASSERT_TRUE(hub.ok());
  // The endpoint comes from HF_ENDPOINT and the token from HF_TOKEN, as huggingface_hub reads them.
  const auto result = run_download("HF_ENDPOINT=" + hub.url() + " HF_TOKEN=secret-test-token",
                                   "--dir " + shell_quote(target_.string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, target_.string() + "\n");
  expect_same_tree(source_, target_);
  const auto log = hub.requests();
  EXPECT_GE(log.for_path("/api/models/test-org/tiny-model/tree/main").size(), 3u);  // 6 entries / 2
  EXPECT_EQ(log.for_path("/cdn/").size(), 4u);  // every file followed through its redirect
  for (const auto& entry : log.entries)
    EXPECT_EQ(entry["authorization"], "Bearer secret-test-token") << entry.dump();

  // A second run finds everything present and verified and fetches no contents.
  const auto again =
      run_download("HF_TOKEN=secret-test-token",
                   "--endpoint " + hub.url() + " --dir " + shell_quote(target_.string()));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("4 already up to date"), std::string::npos) << again.err;
  EXPECT_EQ(hub.requests().for_path("/resolve/").size(), 4u);
}

TEST_F(DownloadTest, ResumesATransferCutOffMidway) {
  const fs::path partial = target_ / "model.safetensors.incomplete";
  {
    FakeHub hub(dir_, source_, "--mode cut-always --target model.safetensors");
    ASSERT_TRUE(hub.ok());
    const auto cut = run_download(
        "", "--endpoint " + hub.url() + " --retries 0 --dir " + shell_quote(target_.string()));
    EXPECT_NE(cut.exit_code, 0);
    EXPECT_NE(cut.err.find("model.safetensors"), std::string::npos) << cut.err;
    EXPECT_NE(cut.err.find("run again to resume"), std::string::npos) << cut.err;
  }
  ASSERT_TRUE(fs::exists(partial));
  const int64_t kept = static_cast<int64_t>(fs::file_size(partial));
  EXPECT_EQ(kept, kWeightsBytes / 2);
  EXPECT_FALSE(fs::exists(target_ / "model.safetensors"));

  FakeHub hub(dir_, source_, "");
  ASSERT_TRUE(hub.ok());
  const auto resumed =
      run_download("", "--endpoint " + hub.url() + " --dir " + shell_quote(target_.string()));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto requests = hub.requests().for_path("/resolve/main/model.safetensors");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["range"], "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(requests[0]["status"], 206);
  expect_same_tree(source_, target_);
}

TEST_F(DownloadTest, RetriesACutTransferWithinOneRun) {
  FakeHub hub(dir_, source_, "--mode cut-once --target model.safetensors");
  ASSERT_TRUE(hub.ok());
  const auto result =
      run_download("", "--endpoint " + hub.url() + " --dir " + shell_quote(target_.string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto requests = hub.requests().for_path("/resolve/main/model.safetensors");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_TRUE(requests[0]["range"].is_null());
  EXPECT_EQ(requests[1]["range"], "bytes=" + std::to_string(kWeightsBytes / 2) + "-");
  expect_same_tree(source_, target_);
}

TEST_F(DownloadTest, RejectsACorruptedFileAndDeletesIt) {
  FakeHub hub(dir_, source_, "--mode corrupt --target model.safetensors");
  ASSERT_TRUE(hub.ok());
  const auto result =
      run_download("", "--endpoint " + hub.url() + " --dir " + shell_quote(target_.string()));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("model.safetensors"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("corrupt"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("SHA-256"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(sha256_hex(read_file(source_ / "model.safetensors"))),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(target_ / "model.safetensors"));
  EXPECT_FALSE(fs::exists(target_ / "model.safetensors.incomplete"));

  // The folder is marked unfinished, and the commands that read a model folder say so.
  EXPECT_TRUE(fs::exists(target_ / ".glmasr-incomplete"));
  for (const std::string command : {"info", "transcribe --device cpu --quiet"}) {
    const auto refused =
        run_command(shell_quote(testing::glmasr_binary()) + " " + command + " --model " +
                    shell_quote(target_.string()) + (command == "info" ? "" : " x.wav"));
    EXPECT_EQ(refused.exit_code, 1) << command;
    EXPECT_NE(refused.err.find("incomplete download: run glmasr download again"), std::string::npos)
        << refused.err;
  }

  // A complete run removes the mark.
  FakeHub good(dir_, source_, "");
  ASSERT_TRUE(good.ok());
  const auto finished =
      run_download("", "--endpoint " + good.url() + " --dir " + shell_quote(target_.string()));
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_FALSE(fs::exists(target_ / ".glmasr-incomplete"));
}

TEST_F(DownloadTest, ReplacesALocalFileThatDiffers) {
  FakeHub hub(dir_, source_, "");
  ASSERT_TRUE(hub.ok());
  write_file(target_ / "config.json", R"({"model_type": "something else"})");
  const auto result =
      run_download("", "--endpoint " + hub.url() + " --dir " + shell_quote(target_.string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("config.json: local copy differs"), std::string::npos) << result.err;
  expect_same_tree(source_, target_);
}

TEST_F(DownloadTest, HttpErrorsNameTheUrl) {
  FakeHub hub(dir_, source_, "--token secret-test-token");
  ASSERT_TRUE(hub.ok());
  const auto unauthorized =
      run_download("", "--endpoint " + hub.url() + " --dir " + shell_quote(target_.string()));
  EXPECT_EQ(unauthorized.exit_code, 1);
  EXPECT_NE(
      unauthorized.err.find("HTTP 401 for " + hub.url() + "/api/models/" + kRepo + "/tree/main"),
      std::string::npos)
      << unauthorized.err;
  EXPECT_NE(unauthorized.err.find("HF_TOKEN"), std::string::npos) << unauthorized.err;

  const auto missing = run_download(
      "HF_TOKEN=secret-test-token",
      "--endpoint " + hub.url() + " --revision v9 --dir " + shell_quote(target_.string()));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("HTTP 404 for " + hub.url() + "/api/models/" + kRepo + "/tree/v9"),
            std::string::npos)
      << missing.err;
}

TEST_F(DownloadTest, ConnectionRefusedGivesUpAfterRetries) {
  // A port nothing listens on: bind-and-close from the fake hub would race, so use port 1.
  const auto result = run_download(
      "", "--endpoint http://127.0.0.1:1 --retries 2 --dir " + shell_quote(target_.string()));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("gave up after 3 attempts"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("http://127.0.0.1:1/api/models/"), std::string::npos) << result.err;
}

TEST(DownloadUsage, WithholdsTheTokenFromAPlainHttpEndpoint) {
  // The target folder cannot be created, so the run stops before any request.
  const auto result = run_command(
      "env -u HF_ENDPOINT HF_TOKEN=secret-test-token " + shell_quote(testing::glmasr_binary()) +
      " download --repo a/b --endpoint http://hub.example --dir /proc/no-such/x");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("not sending the Hugging Face token to http://hub.example"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("secret-test-token"), std::string::npos) << result.err;
}

TEST(HubApi, SendsTheTokenOnlyOverHttpsOrToLoopback) {
  for (const char* endpoint :
       {"https://huggingface.co", "https://mirror.example:8443/hf", "http://127.0.0.1:8080",
        "http://localhost", "http://[::1]:90", "http://user@LOCALHOST:1/x"})
    EXPECT_TRUE(endpoint_may_receive_token(endpoint)) << endpoint;
  for (const char* endpoint :
       {"http://hub.example", "http://10.0.0.1:8080", "http://127.0.0.1.evil.example",
        "http://localhost.evil.example", "http://127.0.0.1@evil.example", "ftp://localhost"})
    EXPECT_FALSE(endpoint_may_receive_token(endpoint)) << endpoint;
}

TEST(DownloadUsage, RejectsABadRepoName) {
  const auto result = run_command(shell_quote(testing::glmasr_binary()) +
                                  " download --repo not-a-repo --dir /nonexistent/x");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("expected 'owner/name', got 'not-a-repo'"), std::string::npos)
      << result.err;
}

TEST(HubApi, ParsesTreePagesWithLfsEntries) {
  const auto page = nlohmann::json::parse(R"([
    {"type": "directory", "path": "sub", "oid": "x", "size": 0},
    {"type": "file", "path": "config.json", "size": 12, "oid": "0123456789012345678901234567890123456789"},
    {"type": "file", "path": "sub/model.safetensors", "size": 99, "oid": "ab",
     "lfs": {"oid": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "size": 99, "pointerSize": 134}}
  ])");
  const auto files = parse_tree_page(page, "URL");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "config.json");
  EXPECT_EQ(files[0].size, 12);
  EXPECT_TRUE(files[0].sha256.empty());
  EXPECT_EQ(files[1].path, "sub/model.safetensors");
  EXPECT_EQ(files[1].sha256, std::string(64, 'a'));
}

TEST(HubApi, RejectsUnsafePathsAndNonLists) {
  for (const char* path : {"../evil", "/etc/passwd", "a//b", "a/./b", ""}) {
    const nlohmann::json page = {{{"type", "file"}, {"path", path}, {"size", 1}}};
    EXPECT_THROW(parse_tree_page(page, "URL"), Error) << path;
  }
  EXPECT_THROW(parse_tree_page(nlohmann::json::object(), "URL"), Error);
}

TEST(HubApi, BuildsUrlsAsHuggingFaceHubDoes) {
  HubConfig hub;
  hub.endpoint = "https://hub.example";
  hub.repo = "zai-org/GLM-ASR-Nano-2512";
  hub.revision = "refs/pr/1";
  EXPECT_EQ(
      tree_url(hub),
      "https://hub.example/api/models/zai-org/GLM-ASR-Nano-2512/tree/refs%2Fpr%2F1?recursive=true");
  EXPECT_EQ(resolve_url(hub, "sub dir/model.safetensors"),
            "https://hub.example/zai-org/GLM-ASR-Nano-2512/resolve/refs%2Fpr%2F1/sub%20dir/"
            "model.safetensors");
  EXPECT_TRUE(auth_headers(hub).empty());
  hub.token = "t";
  EXPECT_EQ(auth_headers(hub), std::vector<std::string>{"Authorization: Bearer t"});
}

TEST(HubApi, FindsTheNextPageInALinkHeader) {
  EXPECT_EQ(link_next_url(R"(<https://h/api?cursor=2>; rel="next")"), "https://h/api?cursor=2");
  EXPECT_EQ(link_next_url(R"(<https://h/a>; rel="prev", <https://h/b>; rel="next")"),
            "https://h/b");
  EXPECT_EQ(link_next_url(R"(<https://h/a>; rel="last")"), "");
  EXPECT_EQ(link_next_url(""), "");
}

TEST(HubApi, VerifiesSizeAndDigest) {
  const fs::path dir = testing::make_temp_dir("verify");
  write_file(dir / "f", "hello");
  RepoFile file{"f", 5, sha256_hex("hello"), ""};
  EXPECT_TRUE(verify_file((dir / "f").string(), file).ok);
  file.sha256 = sha256_hex("hellO");
  const auto wrong = verify_file((dir / "f").string(), file);
  EXPECT_FALSE(wrong.ok);
  EXPECT_NE(wrong.problem.find("SHA-256"), std::string::npos);
  file.size = 6;
  EXPECT_NE(verify_file((dir / "f").string(), file).problem.find("size 5 bytes, expected 6"),
            std::string::npos);
  // Plain git files are checked against their blob id: `git hash-object` of "hello".
  RepoFile plain{"f", 5, "", "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"};
  EXPECT_TRUE(verify_file((dir / "f").string(), plain).ok);
  plain.git_oid[0] = 'c';
  EXPECT_FALSE(verify_file((dir / "f").string(), plain).ok);
}

}  // namespace
}  // namespace glmasr
