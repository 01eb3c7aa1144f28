#!/bin/sh
# Install code-server (VS Code in the browser) from its npm package into PREFIX, without reaching
# anything but the npm registry: the package's own postinstall fetches a ripgrep binary and other
# parts from GitHub, so its steps are done here with the scripts of the downloads turned off, the
# machine's ripgrep in place of the download, and native modules built from source.
#
#   install-code-server.sh PREFIX [VERSION]
#
# Needs node 20 with npm, a C/C++ toolchain, python3, ripgrep and the Kerberos headers (Debian:
# build-essential python3 ripgrep libkrb5-dev; `make` installs them when run as root).
# The result: PREFIX/node_modules/.bin/code-server
set -eu
prefix=$1
version=${2:-4.100.3}
rg=$(command -v rg) || { echo "ripgrep (rg) is needed: apt-get install ripgrep" >&2; exit 1; }
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_audit=false npm_config_fund=false
mkdir -p "$prefix"
cd "$prefix"
echo "Installing code-server $version (npm package, scripts off)"
npm install --ignore-scripts --omit=dev "code-server@$version"
echo "Building argon2 from source"
npm rebuild argon2 --build-from-source
cd node_modules/code-server/lib/vscode
echo "Installing VS Code's dependencies"
npm install --ignore-scripts --omit=dev
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$rg" node_modules/@vscode/ripgrep/bin/rg
echo "Building VS Code's native modules"
npm rebuild
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
cd extensions
npm install --omit=dev
echo "code-server $version is installed in $prefix"
