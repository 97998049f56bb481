// Package pb holds the Go types generated from herald.proto, the Protobuf
// encoding of Herald's wire protocol. Application code rarely needs it: the
// protocol package encodes and decodes both encodings, and the client
// package speaks either.
//
// herald.pb.go is generated without protoc, from the Go module graph alone:
// github.com/bufbuild/protocompile parses herald.proto and protoc-gen-go's
// generator writes the code, both at the versions go.mod pins. After editing
// herald.proto, regenerate with
//
//	go generate ./protocol/pb
//
// TestGeneratedCodeIsCurrent fails while herald.pb.go is stale.
package pb

//go:generate go test -run TestGeneratedCodeIsCurrent -update .
