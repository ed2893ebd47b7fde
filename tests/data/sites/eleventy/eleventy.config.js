// Eleventy 3.x configuration (ESM, because package.json has "type": "module").
export default function (eleventyConfig) {
	// Drafts: the convention from https://www.11ty.dev/docs/config-preprocessors/
	// `draft: true` templates are skipped in `eleventy` builds but kept
	// during `eleventy --serve` / `--watch`.
	eleventyConfig.addPreprocessor("drafts", "*", (data, content) => {
		if (data.draft && process.env.ELEVENTY_RUN_MODE === "build") {
			return false;
		}
	});

	// Images are copied as they are: img/cover.jpg -> _site/img/cover.jpg
	eleventyConfig.addPassthroughCopy("img");

	eleventyConfig.addFilter("isoDate", (d) => new Date(d).toISOString());
}

export const config = {
	dir: {
		input: ".",
		includes: "_includes",
		data: "_data",
		output: "_site",
	},
	markdownTemplateEngine: "njk",
	htmlTemplateEngine: "njk",
};
