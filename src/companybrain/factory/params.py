"""The parameters each model family accepts, as data: `brain check` names an unknown key of `params:` (or
of `search.space`) with its file and line without importing LightGBM, scikit-learn or statsforecast
(2 s each). tests/test_model_params.py checks every list against the library's own signature, so an
upgrade that adds or drops a parameter fails there, not silently here.
"""

from __future__ import annotations

from typing import Any


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# LightGBM: the scikit-learn wrapper's arguments and every core parameter with its aliases
# (lightgbm.basic._ConfigAliases), which the wrapper passes through to the booster.
LIGHTGBM = _names(
    """
    alpha app application auc_mu_weights bagging bagging_by_query bagging_fraction bagging_fraction_seed
    bagging_freq bagging_seed bin_construct_sample_cnt blacklist boost boost_from_average boosting boosting_type
    bundle cat_column cat_feature cat_l2 cat_smooth categorical_column categorical_feature categorical_features
    cegb_penalty_feature_coupled cegb_penalty_feature_lazy cegb_penalty_split cegb_tradeoff class_weight
    colsample_bynode colsample_bytree config config_file contrib convert_model convert_model_file
    convert_model_language data data_filename data_random_seed data_sample_strategy data_seed deterministic device
    device_type drop_rate drop_seed early_stopping early_stopping_min_delta early_stopping_round
    early_stopping_rounds enable_bundle enable_sparse eta eval_at extra_seed extra_tree extra_trees fair_c fc
    feature_contri feature_contrib feature_fraction feature_fraction_bynode feature_fraction_seed feature_penalty
    feature_pre_filter first_metric_only force_col_wise force_row_wise forced_splits forced_splits_file
    forced_splits_filename forcedbins_filename forcedsplits_filename fp fs gpu_device_id gpu_device_id_list
    gpu_platform_id gpu_use_dp group group_column group_id has_header header hist_pool_size histogram_pool_size
    ignore_column ignore_feature importance_type input_model interaction_constraints is_enable_bundle
    is_enable_sparse is_pre_partition is_predict_contrib is_predict_leaf_index is_predict_raw_score
    is_provide_training_metric is_save_binary is_save_binary_file is_sparse is_training_metric is_unbalance
    l1_regularization l2_regularization label label_column label_gain lambda lambda_l1 lambda_l2 lambdarank_norm
    lambdarank_position_bias_regularization lambdarank_truncation_level leaf_index learning_rate linear_lambda
    linear_tree linear_trees local_listen_port local_port loss machine_list machine_list_file machine_list_filename
    machines map_at map_eval_at max_bin max_bin_by_feature max_bins max_cat_threshold max_cat_to_onehot
    max_delta_step max_depth max_drop max_iter max_leaf max_leaf_nodes max_leaf_output max_leaves max_tree_output mc
    mc_method mc_penalty metric metric_freq metric_types metrics min_child_samples min_child_weight min_data
    min_data_in_bin min_data_in_leaf min_data_per_group min_data_per_leaf min_gain_to_split min_hessian
    min_samples_leaf min_split_gain min_sum_hessian min_sum_hessian_in_leaf min_sum_hessian_per_leaf mlist model_in
    model_input model_out model_output monotone_constraining_method monotone_constraint monotone_constraints
    monotone_constraints_method monotone_penalty monotone_splits_penalty monotonic_cst ms_penalty multi_error_top_k
    n_estimators n_iter n_iter_no_change n_jobs name_pred ndcg_at ndcg_eval_at neg_bagging neg_bagging_fraction
    neg_sub_row neg_subsample nodes nrounds nthread nthreads num_boost_round num_class num_classes num_gpu
    num_grad_quant_bins num_iteration num_iteration_predict num_iterations num_leaf num_leaves num_machine
    num_machines num_round num_rounds num_thread num_threads num_tree num_trees objective objective_seed
    objective_type other_rate output_freq output_model output_result parser_config_file path_smooth
    poisson_max_delta_step port pos_bagging pos_bagging_fraction pos_sub_row pos_subsample pre_partition
    precise_float_parser pred_early_stop pred_early_stop_freq pred_early_stop_margin pred_name predict_contrib
    predict_disable_shape_check predict_leaf_index predict_name predict_raw_score predict_rawscore predict_result
    prediction_name prediction_result quant_train_renew_leaf query query_column query_id random_seed random_state
    rate_drop raw_score refit_decay_rate reg_alpha reg_lambda reg_sqrt save_binary save_period
    saved_feature_importance_type scale_pos_weight seed shrinkage_rate sigmoid skip_drop snapshot_freq sparse
    start_iteration_predict stochastic_rounding sub_feature sub_feature_bynode sub_row subsample subsample_for_bin
    subsample_freq task task_type test test_data test_data_file time_out top_k top_rate topk train train_data
    train_data_file train_metric training_metric tree tree_learner tree_learner_type tree_type
    tweedie_variance_power two_round two_round_loading unbalance unbalanced_sets uniform_drop use_missing
    use_quantized_grad use_two_round_loading valid valid_data valid_data_file valid_filenames verbose verbosity
    weight weight_column workers xgboost_dart_mode zero_as_missing
    """
)
LOGISTIC_REGRESSION = _names(
    "penalty C l1_ratio dual tol fit_intercept intercept_scaling class_weight random_state solver max_iter verbose "
    "warm_start n_jobs"
)
RIDGE = _names("alpha fit_intercept copy_X max_iter tol solver positive random_state")
_FOREST = (
    "n_estimators criterion max_depth min_samples_split min_samples_leaf min_weight_fraction_leaf max_features "
    "max_leaf_nodes min_impurity_decrease bootstrap oob_score n_jobs random_state verbose warm_start ccp_alpha "
    "max_samples monotonic_cst"
)
RANDOM_FOREST_CLASSIFIER = _names(f"{_FOREST} class_weight")
RANDOM_FOREST_REGRESSOR = frozenset(_FOREST.split())
ISOLATION_FOREST = _names(
    "n_estimators max_samples contamination max_features bootstrap n_jobs random_state verbose warm_start"
)
# statsforecast's models, without what the factory sets itself (season_length, alias, intervals)
FORECAST_RESERVED = frozenset({"season_length", "alias", "prediction_intervals"})
FORECAST: dict[str, frozenset[str]] = {
    "auto_ets": frozenset({"model", "damped", "phi", "distribution"}),
    "auto_theta": frozenset({"decomposition_type", "model", "distribution"}),
    "auto_arima": _names(
        "d D max_p max_q max_P max_Q max_order max_d max_D start_p start_q start_P start_Q stationary seasonal ic "
        "stepwise nmodels trace approximation method truncate test test_kwargs seasonal_test seasonal_test_kwargs "
        "allowdrift allowmean blambda biasadj distribution"
    ),
    "auto_ces": frozenset({"model", "distribution"}),
    "dynamic_optimized_theta": frozenset({"decomposition_type"}),
    "theta": frozenset({"decomposition_type"}),
    "seasonal_naive": frozenset(),
}
# the forecast ensemble: fixed members, or the candidates it chooses its members from, and how it combines
FORECAST_ENSEMBLE = frozenset({"members", "candidates", "combine"})

TABULAR: dict[tuple[str, str], frozenset[str]] = {
    ("classify", "lightgbm"): LIGHTGBM,
    ("regress", "lightgbm"): LIGHTGBM,
    ("classify", "logistic_regression"): LOGISTIC_REGRESSION,
    ("regress", "linear_regression"): RIDGE,
    ("classify", "random_forest"): RANDOM_FOREST_CLASSIFIER,
    ("regress", "random_forest"): RANDOM_FOREST_REGRESSOR,
    ("anomaly", "isolation_forest"): ISOLATION_FOREST,
    ("anomaly", "robust_zscore"): frozenset(),
}
LINEAR = {"classify": "logistic_regression", "regress": "linear_regression"}
# `model: auto` chooses among these on the training window (a random forest of 300 trees costs ten
# LightGBMs on the demo's 100,000 machine-days, so it is offered by name, not tried by default)
AUTO_CANDIDATES = {
    "classify": ("lightgbm", "logistic_regression", "ensemble"),
    "regress": ("lightgbm", "linear_regression", "ensemble"),
}

# The default search space of each family (`search: {trials: N}`): [low, high] numbers are a range (whole
# numbers if both are, on a log scale when high / low >= 10), any other list a choice.
SEARCH_SPACE: dict[str, dict[str, list[Any]]] = {
    "lightgbm": {
        "num_leaves": [4, 64],
        "min_child_samples": [10, 400],
        "learning_rate": [0.01, 0.2],
        "n_estimators": [50, 800],
        "reg_lambda": [0.01, 30.0],
        "colsample_bytree": [0.5, 1.0],
        "subsample": [0.5, 1.0],
    },
    "logistic_regression": {"C": [0.001, 100.0]},
    "linear_regression": {"alpha": [0.01, 1000.0]},
    "random_forest": {"max_depth": [3, 30], "min_samples_leaf": [1, 200], "max_features": [0.2, 1.0]},
}


def base_families(task: str, family: str) -> tuple[str, ...]:
    """The single families a model family is made of (an ensemble's members, auto's candidates)."""
    if family == "ensemble" and task in LINEAR:
        return ("lightgbm", LINEAR[task])
    if family == "auto" and task in AUTO_CANDIDATES:
        return tuple(dict.fromkeys(f for c in AUTO_CANDIDATES[task] for f in base_families(task, c)))
    return (family,)


def accepted(task: str, family: str) -> frozenset[str]:
    """Every parameter name the family takes."""
    if task == "forecast":
        if family == "ensemble":
            return FORECAST_ENSEMBLE
        return FORECAST.get(family, frozenset())
    return frozenset().union(*(TABULAR.get((task, f), frozenset()) for f in base_families(task, family)))


def for_family(task: str, family: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters one single family takes out of a composite family's (an ensemble's) `params`."""
    known = TABULAR.get((task, family), frozenset())
    return {k: v for k, v in params.items() if k in known}


def unknown(task: str, family: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for every key of `params` the family does not take, with a 'did you mean'."""
    from companybrain.errors import did_you_mean

    names = accepted(task, family)
    found = []
    for key in params:
        if key not in names:
            hint = did_you_mean(key, sorted(names)) if names else "it takes no parameters"
            found.append((key, f"unknown parameter {key!r} for model {family!r}: {hint}"))
    if task == "forecast" and family == "ensemble":
        for key in ("members", "candidates"):
            if key not in params:
                continue
            given = params[key]
            if not isinstance(given, list) or not given:
                found.append((key, f"{key} is a non-empty list of models, e.g. [auto_ets, theta]"))
                continue
            for name in given:
                if name not in FORECAST:
                    found.append((key, f"unknown ensemble {key[:-1]} {name!r}: {did_you_mean(str(name), FORECAST)}"))
        if params.get("combine", "mean") not in ("mean", "median"):
            found.append(("combine", f"combine={params['combine']!r}: the ensemble combines by mean or median"))
    return found


def search_space(
    task: str, family: str, given: dict[str, list[Any]] | None, fixed: dict[str, Any]
) -> dict[str, list[Any]]:
    """The space searched: the given one, or the defaults of the family's members, less the fixed params."""
    if given:  # under auto, each candidate searches the keys it takes
        return {k: v for k, v in given.items() if k not in fixed and k in accepted(task, family)}
    space: dict[str, list[Any]] = {}
    for member in base_families(task, family):
        space |= SEARCH_SPACE.get(member, {})
    return {k: v for k, v in space.items() if k not in fixed}
