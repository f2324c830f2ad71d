#include "server/auth.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sha256.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

std::string HashOf(const std::string& key) {
  absl::StatusOr<Sha256Digest> d = Sha256(key);
  EXPECT_TRUE(d.ok());
  return DigestToHex(*d);
}

ServerConfig TwoTenants(bool with_default, bool with_admin) {
  ServerConfig c;
  TenantSpec a;
  a.name = "alpha";
  a.api_key_sha256 = HashOf("alpha-key");
  a.limit_bytes = 1 << 20;
  TenantSpec b;
  b.name = "beta";
  b.api_key_sha256 = HashOf("beta-key");
  b.limit_bytes = 1 << 20;
  c.tenants = {a, b};
  if (with_default) {
    TenantSpec d;
    d.name = "default";
    d.limit_bytes = 1 << 20;
    c.tenants.push_back(d);
  }
  if (with_admin) c.server.admin_api_key_sha256 = HashOf("admin-key");
  return c;
}

TEST(Sha256Test, KnownVector) {
  // SHA-256("abc"), FIPS 180-2.
  EXPECT_EQ(HashOf("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Digest d;
  EXPECT_TRUE(HexToDigest(HashOf("abc"), &d));
  EXPECT_FALSE(HexToDigest("xyz", &d));
  EXPECT_FALSE(HexToDigest(std::string(64, 'z'), &d));
}

TEST(ParseBearerTest, Forms) {
  EXPECT_EQ(ParseBearer("Bearer k1").value_or(""), "k1");
  EXPECT_EQ(ParseBearer("bearer   k2  ").value_or(""), "k2");
  EXPECT_FALSE(ParseBearer("Basic abc").has_value());
  EXPECT_FALSE(ParseBearer("Bearer").has_value());
  EXPECT_FALSE(ParseBearer("Bearer ").has_value());
  EXPECT_FALSE(ParseBearer("Bearerk").has_value());
}

TEST(AuthTest, GoodKeysMapToTheirTenants) {
  ASSERT_OK_AND_ASSIGN(auto table, AuthTable::Create(TwoTenants(false, false)));
  EXPECT_EQ(table->AuthenticateTenant("Bearer alpha-key").value_or(""),
            "alpha");
  EXPECT_EQ(table->AuthenticateTenant("Bearer beta-key").value_or(""), "beta");
}

TEST(AuthTest, UnknownOrMalformedKeyIsUnauthenticated) {
  ASSERT_OK_AND_ASSIGN(auto table, AuthTable::Create(TwoTenants(true, false)));
  // A default tenant never stands in for a wrong key.
  EXPECT_THAT(table->AuthenticateTenant("Bearer nope"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("unknown API key")));
  EXPECT_THAT(table->AuthenticateTenant("Token alpha-key"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("Bearer <api key>")));
}

TEST(AuthTest, NoKeyUsesTheDefaultTenantOnlyWhenConfigured) {
  ASSERT_OK_AND_ASSIGN(auto with, AuthTable::Create(TwoTenants(true, false)));
  EXPECT_EQ(with->AuthenticateTenant(std::nullopt).value_or(""), "default");
  EXPECT_TRUE(with->has_default_tenant());
  ASSERT_OK_AND_ASSIGN(auto without,
                       AuthTable::Create(TwoTenants(false, false)));
  EXPECT_THAT(without->AuthenticateTenant(std::nullopt),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("missing API key")));
}

TEST(AuthTest, AdminKey) {
  ASSERT_OK_AND_ASSIGN(auto table, AuthTable::Create(TwoTenants(true, true)));
  EXPECT_THAT(table->AuthenticateAdmin("Bearer admin-key"), IsOk());
  EXPECT_THAT(table->AuthenticateAdmin(std::nullopt),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("missing admin key")));
  EXPECT_THAT(table->AuthenticateAdmin("Bearer wrong"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("unknown admin key")));
  EXPECT_THAT(table->AuthenticateAdmin("Bearer alpha-key"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("tenant's API key")));
  // The admin key is no tenant key.
  EXPECT_THAT(
      table->AuthenticateTenant("Bearer admin-key"),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown")));
}

TEST(AuthTest, AdminDisabledWithoutHash) {
  ASSERT_OK_AND_ASSIGN(auto table, AuthTable::Create(TwoTenants(true, false)));
  EXPECT_FALSE(table->admin_enabled());
  EXPECT_THAT(table->AuthenticateAdmin("Bearer anything"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("admin_api_key_sha256")));
}

TEST(AuthenticatorTest, SwapReplacesTheTableAtomically) {
  ASSERT_OK_AND_ASSIGN(auto first, AuthTable::Create(TwoTenants(false, false)));
  Authenticator auth(first);
  std::shared_ptr<const AuthTable> held = auth.table();
  ServerConfig next = TwoTenants(false, false);
  next.tenants.pop_back();  // beta removed
  ASSERT_OK_AND_ASSIGN(auto second, AuthTable::Create(next));
  auth.Swap(second);
  EXPECT_THAT(
      auth.table()->AuthenticateTenant("Bearer beta-key"),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("unknown")));
  // A call that started before the swap keeps its table.
  EXPECT_EQ(held->AuthenticateTenant("Bearer beta-key").value_or(""), "beta");
}

TEST(AuthTest, BadHashInConfigIsRejected) {
  ServerConfig c = TwoTenants(false, false);
  c.tenants[0].api_key_sha256 = "not-hex";
  EXPECT_THAT(AuthTable::Create(c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[0].api_key_sha256")));
}

}  // namespace
}  // namespace kvasir::server
