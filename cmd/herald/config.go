package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/config"
)

func configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Write or check a configuration file",
	}
	var force bool
	initCmd := &cobra.Command{
		Use:     "init [FILE]",
		Short:   "Write the defaults, commented: what serve without a file runs with (to stdout, or FILE)",
		Example: "  herald config init herald.yaml",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				_, err := cmd.OutOrStdout().Write(config.DefaultFile())
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(args[0], flags, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(config.DefaultFile()); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	initCmd.Flags().BoolVar(&force, "force", false, "overwrite FILE if it exists")
	checkCmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a configuration file (with HERALD_* variables applied) as serve would",
		Long: `Check a configuration file, with the HERALD_* variables applied, the way
serve checks it before it listens: every key and value, and the key,
certificate and JWKS the file names (read and fetched). Without FILE it
checks the defaults with the environment, as serve without --config runs.
It does not connect to the broker or bind the address. Exit status 2 names
the first problem; what is legal but likely a mistake is printed as a
warning.`,
		Example: "  herald config check herald.yaml",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, name := "", "the defaults"
			if len(args) == 1 {
				path, name = args[0], args[0]
			}
			cfg, err := config.Load(path, os.Environ())
			if err != nil {
				return &exitError{2, err}
			}
			cfg.ApplyDev()
			if cfg.Dev {
				// What serve generates in development mode, without
				// touching its key file.
				if !cfg.Token.Configured() {
					cfg.Token.HMACSecret = randomHex(32)
				}
				if len(cfg.APIKeys) == 0 {
					cfg.APIKeys = []string{randomHex(16)}
				}
			}
			if err := cfg.Validate(); err != nil {
				return &exitError{2, err}
			}
			p, err := buildParts(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				return &exitError{2, err}
			}
			p.close()
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(cmd.OutOrStdout(), "warning: "+w)
			}
			fmt.Fprintln(cmd.OutOrStdout(), name+": ok")
			return nil
		},
	}
	cmd.AddCommand(initCmd, checkCmd)
	return cmd
}
