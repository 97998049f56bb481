package main

import (
	"fmt"
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
		Short:   "Write a commented default configuration (to stdout, or FILE)",
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
		Use:     "check FILE",
		Short:   "Validate a configuration file (with HERALD_* variables applied)",
		Example: "  herald config check herald.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0], os.Environ())
			if err != nil {
				return &exitError{2, err}
			}
			cfg.ApplyDev()
			if err := cfg.Validate(); err != nil {
				return &exitError{2, err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0]+": ok")
			return nil
		},
	}
	cmd.AddCommand(initCmd, checkCmd)
	return cmd
}
