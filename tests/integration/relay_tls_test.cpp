// The client library over TLS (wss://) to a real hearthd whose certificate is
// made by the openssl CLI at test time: trusted through a CA file, refused
// without it, refused for another host name.
#include <cstdlib>
#include <filesystem>

#include "tests/integration/relay_support.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

// A self-signed certificate for `san` (e.g. "DNS:localhost,IP:127.0.0.1").
void make_certificate(const fs::path& dir, const std::string& name, const std::string& san) {
  std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
      " -days 2 -subj /CN=hearth-test -addext subjectAltName=" +
      san + " -keyout " + (dir / (name + ".key")).string() + " -out " +
      (dir / (name + ".pem")).string() + " 2>/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
}

nlohmann::json tls_config(const fs::path& dir, const std::string& name) {
  nlohmann::json tls = nlohmann::json::object();
  tls["certificate"] = (dir / (name + ".pem")).string();
  tls["private_key"] = (dir / (name + ".key")).string();
  nlohmann::json config = nlohmann::json::object();
  config["tls"] = tls;
  return config;
}

TEST_CASE("wss: a server certificate trusted through a CA file carries a whole conversation",
          "[integration][relay]") {
  TempDir certs;
  make_certificate(certs.path(), "server", "DNS:localhost,IP:127.0.0.1");
  make_certificate(certs.path(), "stranger", "DNS:localhost,IP:127.0.0.1");
  Relay relay(tls_config(certs.path(), "server"));
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  const std::string port = std::to_string(relay.hearthd->port());
  const client::Endpoint trusted{"wss://127.0.0.1:" + port + "/v1/ws", certs.path() / "server.pem"};

  auto store = relay.create_store(ana);
  auto responder = client::ResponderSession::login(trusted, *store);
  INFO(responder.status().to_string());
  REQUIRE(responder.is_ok());
  auto started = client::SurvivorSession::start(trusted, relay.org.root.public_key(),
                                                shelter_request(), "over TLS");
  INFO(started.status().to_string());
  REQUIRE(started.is_ok());
  auto offered = take_case(*responder.value(), started->case_id);
  CHECK(texts(offered, client::ResponderUpdate::Kind::kNewCase) ==
        std::vector<std::string>{"over TLS"});

  // By host name too (the certificate names localhost).
  auto by_name = client::Connection::connect(
      {"wss://localhost:" + port + "/v1/ws", certs.path() / "server.pem"});
  INFO(by_name.status().to_string());
  CHECK(by_name.is_ok());

  {  // the system's CAs do not vouch for it
    auto c = client::Connection::connect({"wss://127.0.0.1:" + port + "/v1/ws", {}});
    REQUIRE_FALSE(c.is_ok());
    CHECK(c.status().code() == Code::kUnavailable);
  }
  {  // another certificate for the same names is not this server's
    auto c = client::Connection::connect(
        {"wss://127.0.0.1:" + port + "/v1/ws", certs.path() / "stranger.pem"});
    REQUIRE_FALSE(c.is_ok());
    CHECK(c.status().code() == Code::kUnavailable);
  }
  {  // plain ws to the TLS listener fails
    auto c = client::Connection::connect({"ws://127.0.0.1:" + port + "/v1/ws", {}});
    CHECK_FALSE(c.is_ok());
  }
}

TEST_CASE("wss: a certificate for another host name is refused", "[integration][relay]") {
  TempDir certs;
  make_certificate(certs.path(), "other", "DNS:other.example");
  Relay relay(tls_config(certs.path(), "other"));
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto c = client::Connection::connect(
      {"wss://127.0.0.1:" + std::to_string(relay.hearthd->port()) + "/v1/ws",
       certs.path() / "other.pem"});
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().code() == Code::kUnavailable);
}

}  // namespace
}  // namespace hearth::test
