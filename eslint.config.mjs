import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/**", "dist/**", ".state/**", ".local/**"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
        },
    },
    {
        // The stand-in images' small Node servers: plain CommonJS run by Debian's node.
        files: ["tools/local-vps/images/**/*.js"],
        languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
