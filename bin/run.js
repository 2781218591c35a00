#!/usr/bin/env node
/* global process */
// The `dsync` command.
import { main } from '../dist/src/cli.js'

process.exitCode = await main(process.argv.slice(2), import.meta.url)
