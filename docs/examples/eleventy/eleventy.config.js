// Eleventy 3 (ESM: package.json has "type": "module").
export default function (eleventyConfig) {
	// Drafts, as Eleventy's docs suggest: `draft: true` posts are left out of `eleventy` builds.
	eleventyConfig.addPreprocessor("drafts", "*", (data, content) => {
		if (data.draft && process.env.ELEVENTY_RUN_MODE === "build") {
			return false;
		}
	});
}

export const config = {
	dir: {
		input: ".",
		includes: "_includes",
		data: "_data",
		output: "_site",
	},
};
