package pb_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite herald.pb.go from herald.proto")

// TestGeneratedCodeIsCurrent regenerates herald.pb.go in memory and fails if
// the committed file differs: someone edited herald.proto (or bumped a
// generator in go.mod) without regenerating.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	got, err := generate("herald.proto")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("herald.pb.go", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("herald.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("herald.pb.go is stale: run go generate ./protocol/pb")
	}
}

// generate compiles a .proto file and runs protoc-gen-go's generator on it,
// as protoc would with paths=source_relative.
func generate(name string) ([]byte, error) {
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(context.Background(), name)
	if err != nil {
		return nil, err
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{name},
		Parameter:      proto.String("paths=source_relative"),
		ProtoFile:      []*descriptorpb.FileDescriptorProto{protodesc.ToFileDescriptorProto(files[0])},
	}
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, err
	}
	for _, f := range gen.Files {
		if f.Generate {
			internal_gengo.GenerateFile(gen, f)
		}
	}
	resp := gen.Response()
	if resp.Error != nil {
		return nil, &genError{resp.GetError()}
	}
	return []byte(resp.File[0].GetContent()), nil
}

type genError struct{ msg string }

func (e *genError) Error() string { return "protoc-gen-go: " + e.msg }
