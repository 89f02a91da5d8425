// Azure pieces without a server: URI parsing, credentials from the environment, the Shared
// Key string-to-sign layout, base64, and redaction of secrets.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "runtime/storage/azure_store.h"
#include "runtime/storage/signing.h"

namespace mt::storage {
namespace {

TEST(Azure, Base64RoundTrip) {
  for (const std::string& s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(*azure::Base64Decode(azure::Base64Encode(s)), s);
  }
  EXPECT_EQ(azure::Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(azure::Base64Decode("abc").ok());
}

TEST(Azure, StringToSignLayout) {
  azure::SignRequest r;
  r.verb = "PUT";
  r.url_path = "/devstoreaccount1/data/a%20b";
  r.query = {{"comp", "block"}, {"blockid", "QQ=="}};
  r.headers = {{"If-None-Match", "*"}, {"Content-Type", "application/octet-stream"}};
  r.ms_headers = {{"x-ms-date", "Sun, 29 Nov 2026 00:00:00 GMT"}, {"x-ms-version", "2021-08-06"}};
  r.content_length = 3;
  EXPECT_EQ(azure::StringToSign("devstoreaccount1", r),
            "PUT\n\n\n3\n\napplication/octet-stream\n\n\n\n*\n\n\n"
            "x-ms-date:Sun, 29 Nov 2026 00:00:00 GMT\nx-ms-version:2021-08-06\n"
            "/devstoreaccount1/devstoreaccount1/data/a%20b\nblockid:QQ==\ncomp:block");
}

TEST(Azure, UriParsing) {
  AzureCredentials c{"acct", "a2V5", "", "https://acct.blob.core.windows.net"};
  EXPECT_EQ((*OpenAzureStore("az://acct/data/sets/add2/", c))->uri(), "az://acct/data/sets/add2");
  EXPECT_EQ((*OpenAzureStore("az://acct/data", c))->uri(), "az://acct/data");
  for (const char* bad : {"az://acct", "az://Acct/data", "az://acct/x", "az:/acct/data"}) {
    EXPECT_EQ(OpenAzureStore(bad, c).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Azure, CredentialsFromTheEnvironment) {
  unsetenv("AZURE_STORAGE_CONNECTION_STRING");
  unsetenv("AZURE_STORAGE_ACCOUNT");
  auto none = AzureCredentialsFromEnv("acct");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("AZURE_STORAGE_CONNECTION_STRING"), std::string::npos);
  setenv("AZURE_STORAGE_CONNECTION_STRING",
         "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;"
         "BlobEndpoint=http://127.0.0.1:10000/acct/;",
         1);
  auto c = AzureCredentialsFromEnv("acct");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->key, "a2V5");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:10000/acct");
  EXPECT_EQ(AzureCredentialsFromEnv("other").status().code(), absl::StatusCode::kInvalidArgument);
  unsetenv("AZURE_STORAGE_CONNECTION_STRING");
  setenv("AZURE_STORAGE_ACCOUNT", "acct", 1);
  setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=1&sig=abc", 1);
  c = AzureCredentialsFromEnv("acct");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->sas, "sv=1&sig=abc");
  EXPECT_EQ(c->endpoint, "https://acct.blob.core.windows.net");
  unsetenv("AZURE_STORAGE_ACCOUNT");
  unsetenv("AZURE_STORAGE_SAS_TOKEN");
}

TEST(Azure, RedactHidesSignaturesAndKeys) {
  const std::string text = Redact(
      "GET http://h/c/b?sv=2019&sig=abc%2Bdef&se=1 AccountKey=c2VjcmV0; SharedKey acct:XYZ=");
  EXPECT_EQ(text.find("abc%2Bdef"), std::string::npos) << text;
  EXPECT_EQ(text.find("c2VjcmV0"), std::string::npos) << text;
  EXPECT_EQ(text.find("XYZ="), std::string::npos) << text;
  EXPECT_NE(text.find("se=1"), std::string::npos) << text;
}

}  // namespace
}  // namespace mt::storage
